import { groupLag, listDeadLetters } from '@s2s/bus';
import { decodeIngest, exampleEvent, exampleIosSession, exampleUuid, type SessionRecord } from '@s2s/contracts';
import { createDeviceGraph } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDlqCommands } from '../../services/cli/src/commands/dlq.js';
import { createContext } from '../../services/cli/src/context.js';
import { createProgram } from '../../services/cli/src/program.js';
import type { Worker } from '../../services/worker/src/worker.js';
import { testKafka, waitFor } from '../support/index.js';
import { APP_ID, createHarness, type Harness, ingest, singularSequence } from './support.js';

const T = 1_795_000_000_000;
const firstSession = (n: number): SessionRecord => {
  const { install: _client, ...s } = exampleIosSession(n, APP_ID);
  return s;
};

describe('worker: partner rules, DLQ, in-doubt hold, device graph', () => {
  let h: Harness;
  let worker: Worker;
  beforeAll(async () => {
    h = await createHarness();
    worker = await h.startWorker({ NO_SESSION_TIMEOUT_S: '1', SESSION_TIMEOUT_S: '60' });
  });
  afterAll(async () => h?.cleanup());

  const outcomes = async (requestId: string) =>
    (
      await h.db.pool.query(
        'SELECT partner, outcome, reason, in_doubt FROM request_outcomes WHERE request_id = $1 ORDER BY partner',
        [requestId],
      )
    ).rows;
  /** `s2s-relay dlq …` as an operator runs it. */
  const dlq = async (...args: string[]) => {
    const out: string[] = [];
    const ctx = createContext({ env: h.env(), out: (l) => out.push(l), err: () => {} });
    const program = createProgram().configureOutput({ writeOut: (l) => out.push(l), writeErr: (l) => out.push(l) });
    registerDlqCommands(program, ctx);
    try {
      await program.parseAsync(['dlq', ...args], { from: 'user' });
      return out;
    } finally {
      await ctx.close();
    }
  };
  const singular = async (device: string) =>
    singularSequence((await h.sandbox.requests({ partner: 'singular', device })).filter((e) => e.status === 200));

  it('applies the session timeout (a deep-link open always goes) and derives install from the device graph', async () => {
    const s = firstSession(501);
    const device = s.ids.idfv as string;
    const at = (ms: number, extra: Partial<SessionRecord> = {}) => ingest({ ...s, ...extra, timestampMs: T + ms });
    const within = at(10_000);
    await h.produce([at(0)]);
    await h.produce([ingest({ ...exampleEvent(s, 'ev'), timestampMs: T + 5_000 })]);
    await h.produce([within]);
    await h.produce([at(20_000, { openUri: 'https://example.sng.link/A1/b2?_dl=myapp%3A%2F%2Fpromo' })]);
    await h.produce([at(200_000)]);
    await waitFor(async () => (await singular(device)).length >= 4, { what: '4 singular requests' });
    expect(await singular(device)).toEqual(['launch', 'ev', 'launch', 'launch']);
    const launches = (await h.sandbox.requests({ partner: 'singular', device })).filter((e) => e.path.endsWith('/launch'));
    expect(launches.map((e) => e.query.install)).toEqual(['true', 'false', 'false']);
    expect(launches[1]?.query.openuri).toContain('sng.link');
    await waitFor(async () => (await outcomes(within.requestId))[0]?.outcome === 'suppressed', { what: 'suppressed session' });
    expect(await outcomes(within.requestId)).toEqual([
      { partner: 'singular', outcome: 'suppressed', reason: 'session_timeout', in_doubt: false },
    ]);
  });

  it('sends events that never get a session to the DLQ as no_session, with the original bytes', async () => {
    const s = firstSession(502);
    const events = [1, 2].map((i) => ingest(exampleEvent(s, `orphan_${i}`)));
    await h.produce(events);
    await waitFor(async () => (await outcomes(events[1]!.requestId))[0]?.outcome === 'dlq', { what: 'no_session DLQ' });
    expect(await outcomes(events[0]!.requestId)).toEqual([
      { partner: 'singular', outcome: 'dlq', reason: 'no_session', in_doubt: false },
    ]);
    const letters = await listDeadLetters(testKafka(), h.topics.names, { reason: 'no_session' });
    const mine = letters.filter((l) => events.some((e) => e.requestId === l.letter.requestId));
    expect(mine).toHaveLength(2);
    const original = decodeIngest(mine[0]!.letter.original, mine[0]!.letter.originalSchema);
    expect(original.kind === 'event' && original.record.name).toMatch(/^orphan_/);
    expect(await singular(s.ids.idfv as string)).toEqual([]);
  });

  it('dead-letters a permanent partner rejection with the partner’s answer', async () => {
    const s = firstSession(503);
    await h.sandbox.fault({
      partner: 'singular',
      kind: 'error',
      status: 200,
      body: { status: 'error', reason: 'no device ID supplied' },
      device: s.ids.idfv,
      count: 1,
    });
    const m = ingest(s);
    await h.produce([m]);
    await waitFor(async () => (await outcomes(m.requestId)).length === 3, { what: 'three outcomes' });
    expect((await outcomes(m.requestId)).map((r) => `${r.partner}:${r.outcome}:${r.reason ?? ''}`)).toEqual([
      'oath:forwarded:',
      'onside:forwarded:',
      'singular:dlq:partner_rejected',
    ]);
    const [letter] = await listDeadLetters(testKafka(), h.topics.names, { requestId: m.requestId });
    expect(letter?.letter.partnerAnswer).toContain('no device ID supplied');
    expect(letter?.letter.partner).toBe('singular');
  });

  it('holds an in-doubt call (never sends it twice by itself), counts it, and re-drives it on request', async () => {
    const s = firstSession(504);
    const device = s.ids.idfv as string;
    // Singular processes the session, but the answer never comes back: the worker times out.
    await h.sandbox.fault({ partner: 'singular', kind: 'timeout', afterProcessing: true, device, count: 1 });
    const m = ingest(s);
    await h.produce([m]);
    await waitFor(async () => (await outcomes(m.requestId)).find((r) => r.partner === 'singular')?.outcome === 'dlq', {
      what: 'in-doubt DLQ',
    });
    expect((await outcomes(m.requestId)).find((r) => r.partner === 'singular')).toEqual({
      partner: 'singular',
      outcome: 'dlq',
      reason: 'in_doubt',
      in_doubt: true,
    });
    expect((await h.sandbox.requests({ partner: 'singular', device })).length).toBe(1);
    const metrics = await worker.metrics.registry.getSingleMetricAsString('s2s_worker_in_doubt_total');
    expect(metrics).toMatch(/partner="singular",resolution="hold"[^\n]* 1/);

    // An operator finds it and re-drives it: the ledger lets it through once.
    const listed = await dlq('list', '--reason', 'in_doubt');
    expect(listed.find((l) => l.includes(m.requestId))).toMatch(/in_doubt {2}singular {2}wapp/);
    expect((await dlq('redrive', '--request-id', m.requestId)).at(-1)).toMatch(/^re-drove 1 record\(s\) with token /);
    await waitFor(async () => (await outcomes(m.requestId)).find((r) => r.partner === 'singular')?.outcome === 'forwarded', {
      what: 're-driven session forwarded',
    });
    expect((await h.sandbox.requests({ partner: 'singular', device })).length).toBe(2);
    // Re-driving it again changes nothing: it is no longer a dead letter in the ledger.
    await dlq('redrive', '--request-id', m.requestId);
    await waitFor(async () => (await groupLag(h.topics.admin, h.groupId, h.topics.names.ingest)).total === 0, {
      what: 'the second re-drive processed',
    });
    expect((await h.sandbox.requests({ partner: 'singular', device })).length).toBe(2);
  });

  it('holds a first session in doubt together with its device mark, and leaves a row another attempt settled as it is', async () => {
    // The hold is one transaction: the row in doubt with its reply, the outcome, the dead letter,
    // and the device's first session counted as forwarded (its events go on behind it).
    const held = firstSession(611);
    const heldMsg = ingest(held);
    await h.sandbox.fault({
      partner: 'singular',
      kind: 'timeout',
      afterProcessing: true,
      device: held.ids.idfv as string,
      count: 1,
    });
    await h.produce([heldMsg]);
    await waitFor(async () => (await outcomes(heldMsg.requestId)).find((r) => r.partner === 'singular')?.outcome === 'dlq', {
      what: 'the session held in doubt',
    });
    const ledgerRow = async (requestId: string) =>
      (
        await h.db.pool.query(
          `SELECT l.state, l.reply->>'outcome' AS reply, d.session_forwarded_at IS NOT NULL AS marked
           FROM ledger l JOIN devices d USING (app_id, device_key) WHERE l.request_id = $1 AND l.partner = 'singular'`,
          [requestId],
        )
      ).rows[0];
    expect(await ledgerRow(heldMsg.requestId)).toEqual({ state: 'in_doubt', reply: 'dlq', marked: true });
    const [letter] = await listDeadLetters(testKafka(), h.topics.names, { requestId: heldMsg.requestId });
    expect(letter?.letter.reason).toBe('in_doubt');

    // While this worker's call hangs, another attempt records the partner's answer (a rebalance
    // overlap). When the call times out, the hold finds the row no longer its own: it writes and
    // dead-letters nothing, and answers the app with the recorded reply.
    const settled = firstSession(612);
    const device = settled.ids.idfv as string;
    const m = ingest(settled);
    await h.sandbox.fault({ partner: 'singular', kind: 'timeout', afterProcessing: true, device, count: 1 });
    await h.produce([m]);
    await waitFor(async () => (await h.sandbox.requests({ partner: 'singular', device })).length === 1, {
      what: 'the call at the sandbox',
    });
    const answer = { requestId: m.requestId, appId: APP_ID, deviceKey: m.deviceKey, partner: 'singular', outcome: 'forwarded' };
    const { rowCount } = await h.db.pool.query(
      `UPDATE ledger SET state = 'sent', lease_owner = NULL, lease_until = NULL, reply = $2
       WHERE request_id = $1 AND partner = 'singular' AND state = 'pending'`,
      [m.requestId, { ...answer, atMs: Date.now(), inDoubt: false }],
    );
    expect(rowCount).toBe(1);
    // Published from the ledger once more, the reply moves the row on to acked.
    await waitFor(async () => (await ledgerRow(m.requestId))?.state === 'acked', {
      what: 'the recorded reply published',
      timeoutMs: 20_000,
    });
    expect(await ledgerRow(m.requestId)).toEqual({ state: 'acked', reply: 'forwarded', marked: false });
    expect((await outcomes(m.requestId)).find((r) => r.partner === 'singular')).toBeUndefined();
    expect(await listDeadLetters(testKafka(), h.topics.names, { requestId: m.requestId })).toEqual([]);
  });

  it('keeps every identifier of a device, links identifier changes, and tracks consent and installs', async () => {
    const s = firstSession(505);
    const idfaA = exampleUuid(505, 7, true);
    const idfaB = exampleUuid(506, 7, true);
    const m = ingest(s);
    await h.produce([m]);
    await h.produce([
      ingest({ ...exampleEvent(s, 'consented'), attStatus: 3, ids: { ...s.ids, idfa: idfaA }, customUserId: 'u-1' }),
    ]);
    await h.produce([ingest({ ...exampleEvent(s, 'reset'), attStatus: 3, ids: { ...s.ids, idfa: idfaB } })]);
    await waitFor(async () => (await singular(s.ids.idfv as string)).length === 3, { what: '3 singular requests' });
    const graph = createDeviceGraph(h.db.pool);
    const ids = await graph.identifiers(APP_ID, m.deviceKey);
    expect(ids.map((i) => `${i.kind}=${i.value}`).sort()).toEqual(
      [`custom_user_id=u-1`, `idfa=${idfaA}`, `idfa=${idfaB}`, `idfv=${s.ids.idfv}`].sort(),
    );
    expect((await graph.identifierChanges(APP_ID, m.deviceKey)).map((c) => [c.kind, c.oldValue, c.newValue])).toEqual([
      ['idfa', idfaA, idfaB],
    ]);
    await waitFor(async () => Object.keys((await graph.get(APP_ID, m.deviceKey))?.installs ?? {}).length === 3, {
      what: 'installs recorded',
    });
    const { rows } = await h.db.pool.query(
      'SELECT att_status, limit_data_sharing, first_session_ms IS NOT NULL AS has_first, session_forwarded_at IS NOT NULL AS fwd FROM devices WHERE device_key = $1',
      [m.deviceKey],
    );
    expect(rows[0]).toEqual({ att_status: 3, limit_data_sharing: false, has_first: true, fwd: true });
  });

  it('serves /metrics and /healthz on the ops port', async () => {
    const port = worker.opsPort();
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const name of [
      's2s_worker_consumer_lag',
      's2s_worker_records_total',
      's2s_worker_partner_latency_seconds',
      's2s_worker_parked_lanes',
      's2s_worker_dlq_total',
      's2s_worker_in_doubt_total',
    ])
      expect(text).toContain(name);
    expect(text).toMatch(/s2s_worker_records_total\{[^}]*outcome="forwarded",partner="singular"[^}]*\} \d+/);
  });
});
