/**
 * Graceful rebalances: a worker leaving (SIGTERM) and workers joining mid-stream. Unlike a kill,
 * nothing is in doubt: every record reaches the sandbox exactly once, each device in order.
 */
import { groupLag } from '@s2s/bus';
import { exampleAndroidSession, exampleEvent } from '@s2s/contracts';
import { createLedger } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId, waitFor } from '../support/index.js';
import {
  APP_ID,
  createHarness,
  type Harness,
  ingest,
  singularByDevice,
  startWorkerProcess,
  type WorkerProcess,
} from './support.js';

const DEVICES = 150;
const EVENTS = 5;

describe('worker: graceful rebalances', () => {
  let h: Harness;
  const children: WorkerProcess[] = [];
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    for (const c of children) c.proc.kill('SIGKILL');
    await h?.cleanup();
  });
  const start = () => {
    // Not a timeout test: a generous partner timeout keeps a starved machine's slow answers from
    // counting as in-doubt calls, which this test must not see.
    const c = startWorkerProcess(h, uniqueId('w'), { PARTNER_TIMEOUT_MS: '10000' });
    children.push(c);
    return c;
  };

  it('loses and repeats nothing when a worker leaves with SIGTERM and others join mid-stream', async () => {
    await h.sandbox.fault({ partner: 'all', kind: 'latency', latencyMs: { min: 5, max: 20 } });
    const sessions = Array.from({ length: DEVICES }, (_, i) => exampleAndroidSession(40_000 + i, APP_ID));
    const rounds = Array.from({ length: EVENTS + 1 }, (_, r) =>
      sessions.map((s) => ingest(r === 0 ? s : exampleEvent(s, `ev_${r}`))),
    );
    const expectedCalls = DEVICES * (EVENTS + 1) + DEVICES;
    const first = start();
    start();
    const producing = (async () => {
      for (const round of rounds)
        for (let i = 0; i < round.length; i += 50) {
          await h.produce(round.slice(i, i + 50));
          await new Promise((r) => setTimeout(r, 40)); // pacing: a stream, not one burst
        }
    })();
    const okCalls = async () => (await h.sandbox.requests()).filter((e) => e.status === 200 && !e.path.endsWith('jwks.json'));

    // A worker leaves while it holds leases (calls in flight): it finishes them, commits, leaves.
    await waitFor(async () => (await okCalls()).length >= 150, { what: 'progress', timeoutMs: 60_000 });
    await waitFor(
      async () =>
        (await h.db.pool.query("SELECT 1 FROM ledger WHERE state = 'pending' AND lease_owner LIKE $1", [`${first.id}:%`]))
          .rowCount,
      { what: 'calls in flight on the leaving worker', intervalMs: 5, timeoutMs: 60_000 },
    );
    first.proc.kill('SIGTERM');
    expect(await first.exited, `the leaving worker's last output:\n${first.output.join('\n')}`).toBe(0);
    // Two join while the stream goes on.
    start();
    await waitFor(async () => (await okCalls()).length >= 500, { what: 'more progress', timeoutMs: 60_000 });
    start();
    await producing;

    await waitFor(async () => (await okCalls()).length >= expectedCalls, {
      what: `${expectedCalls} partner calls`,
      timeoutMs: 40_000,
      intervalMs: 500,
    }).catch(async (err) => {
      for (const c of children) console.error(c.id, c.output.slice(-10).join('\n'));
      const states = await h.db.pool.query('SELECT state, count(*)::int AS n FROM ledger GROUP BY state');
      const lag = await groupLag(h.topics.admin, h.groupId, h.topics.names.ingest);
      const parked = await h.db.pool.query('SELECT count(*)::int AS n FROM parked_records');
      console.error({ calls: (await okCalls()).length, states: states.rows, lag, parked: parked.rows[0] });
      throw err;
    });
    await waitFor(async () => (await groupLag(h.topics.admin, h.groupId, h.topics.names.ingest)).total === 0, {
      what: 'every record committed',
      timeoutMs: 60_000,
    });
    const calls = await okCalls();
    expect(calls).toHaveLength(expectedCalls);
    expect(calls.filter((e) => e.duplicate)).toEqual([]);
    expect(await createLedger(h.db.pool).inDoubtTotal()).toBe(0);
    const want = ['launch', ...Array.from({ length: EVENTS }, (_, i) => `ev_${i + 1}`)];
    const byDevice = singularByDevice(calls);
    expect(byDevice.size).toBe(DEVICES);
    for (const [, seq] of byDevice) expect(seq).toEqual(want);
  }, 240_000);
});
