/**
 * Issue 7 in the worker, against the real broker, Postgres, partner sandbox and gateway: hybrid apps
 * (no session-first), identifiers from Internal BI postbacks on server-side events, consent carried
 * forward, erased devices kept out on a replay from earliest, and the scheduled retention purge.
 */
import { groupLag, readTopicToEnd } from '@s2s/bus';
import {
  decodeReply,
  deviceKey,
  exampleEvent,
  exampleIosSession,
  exampleUuid,
  type ReplyMessage,
  type SessionRecord,
} from '@s2s/contracts';
import { createAppSettings, createAppsRepo, createPrivacyRepo, uuidV7Floor } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerReplayCommand } from '../../services/cli/src/commands/replay.js';
import { createContext } from '../../services/cli/src/context.js';
import { createProgram } from '../../services/cli/src/program.js';
import { startTestGateway, type TestGateway } from '../../services/gateway/test/harness.js';
import type { Worker } from '../../services/worker/src/worker.js';
import { testKafka, waitFor } from '../support/index.js';
import { APP_ID, createHarness, type Harness, ingest, SANDBOX_OATH_KEY } from '../worker/support.js';
import { findInClear } from './support.js';

const HYBRID_APP = 'whybrid';
const DAY_MS = 86_400_000;
/** A first session without the client's install flag (install comes from the device graph). */
const session = (n: number, appId = APP_ID): SessionRecord => {
  const { install: _client, ...s } = exampleIosSession(n, appId);
  return s;
};

describe('worker: issue 7 (hybrid, postbacks, consent, erasure, retention)', () => {
  let h: Harness;
  let gw: TestGateway;
  let worker: Worker;
  const env = { RETENTION_INTERVAL_S: '1' };
  beforeAll(async () => {
    h = await createHarness();
    gw = await startTestGateway({
      topics: h.topics,
      schema: h.db,
      env: { SANDBOX_URL: 'off', WORKER_OPS_URL: 'off' },
      app: { oathHmacKey: SANDBOX_OATH_KEY, oathDataProviderId: 'acme' },
    });
    await createAppsRepo(h.db.pool).upsert({
      id: HYBRID_APP,
      mode: 'hybrid',
      singularSdkKey: 'sdk-key-hybrid-test',
      oathDataProviderId: 'acme',
      oathHmacKey: SANDBOX_OATH_KEY,
      onsideEnabled: true,
    });
    worker = await h.startWorker(env);
  });
  afterAll(async () => {
    await gw?.close();
    await h?.cleanup();
  });

  const outcomes = async (requestId: string) =>
    (
      await h.db.pool.query<{ partner: string; outcome: string; reason: string | null }>(
        'SELECT partner, outcome, reason FROM request_outcomes WHERE request_id = $1 ORDER BY partner',
        [requestId],
      )
    ).rows.map((r) => `${r.partner}:${r.outcome}:${r.reason ?? ''}`);
  const okRequests = async (q: { partner?: string; device?: string } = {}) =>
    (await h.sandbox.requests(q)).filter((e) => e.status === 200 && !e.path.endsWith('jwks.json'));
  const caughtUp = () =>
    waitFor(async () => (await groupLag(h.topics.admin, h.groupId, h.topics.names.ingest)).total === 0, {
      what: 'the worker group to commit every record',
    });

  it('forwards a hybrid app’s event with no session at once (its session only to Oath/Onside); parks a pure app’s', async () => {
    const hs = session(7101, HYBRID_APP);
    const hybridEvent = ingest(exampleEvent(hs, 'hybrid_ev'));
    const ps = session(7102);
    const pureEvent = ingest(exampleEvent(ps, 'pure_ev'));
    await h.produce([hybridEvent, pureEvent]);
    await waitFor(async () => (await outcomes(hybridEvent.requestId)).join() === 'singular:forwarded:', {
      what: 'hybrid event forwarded',
    });
    expect((await okRequests({ partner: 'singular', device: hs.ids.idfv as string })).map((e) => e.query.n)).toEqual([
      'hybrid_ev',
    ]);
    await waitFor(async () => (await outcomes(pureEvent.requestId)).join() === 'singular:parked:awaiting_session', {
      what: 'pure event parked',
    });
    expect(await okRequests({ partner: 'singular', device: ps.ids.idfv as string })).toEqual([]);

    // The hybrid device's session: Singular has it from the SDK; the installs still go to Oath and Onside.
    const hybridSession = ingest(hs);
    await h.produce([hybridSession]);
    await waitFor(async () => (await outcomes(hybridSession.requestId)).length === 3, { what: 'hybrid session outcomes' });
    expect(await outcomes(hybridSession.requestId)).toEqual([
      'oath:forwarded:',
      'onside:forwarded:',
      'singular:suppressed:hybrid',
    ]);
    expect(
      (await okRequests({ partner: 'singular', device: hs.ids.idfv as string })).map((e) => e.path.endsWith('/launch')),
    ).toEqual([false]);
  });

  it('sends a server-side event with the identifier an Internal BI postback reported; a repeated postback changes nothing', async () => {
    await createAppSettings(h.db.pool).setMode(gw.appId, 'hybrid');
    const secret = await createAppSettings(h.db.pool).rotatePostbackSecret(gw.appId);
    const s = session(7103, gw.appId);
    const key = deviceKey(s) as string;
    const idfa = exampleUuid(7103, 9, true);
    const postback = () =>
      gw.app.inject({
        method: 'POST',
        url: `/v1/postbacks/singular/${gw.appId}?key=${secret}`,
        payload: { event_id: 'pb-7103', event_type: 'install', platform: 'ios', idfv: s.ids.idfv, idfa, network: 'Acme Ads' },
      });
    const snapshot = async () =>
      Promise.all(
        ['devices', 'device_identifiers', 'device_identifier_changes', 'device_attribution', 'postbacks'].map(
          async (t) =>
            (await h.db.pool.query(`SELECT * FROM ${t} WHERE app_id = $1 AND device_key = $2 ORDER BY 1, 2, 3`, [gw.appId, key]))
              .rows,
        ),
      );
    const first = await postback();
    expect(first.json()).toEqual({ status: 'ok', duplicate: false, deviceKey: key });
    const before = await snapshot();
    expect((await postback()).json()).toEqual({ status: 'ok', duplicate: true, deviceKey: key });
    expect(await snapshot()).toEqual(before);

    // The backend's event knows the IDFV and that ATT is authorized, not the IDFA.
    const event = exampleEvent(s, 'server_side');
    expect(event.ids.idfa).toBeUndefined();
    const authorized = ingest({ ...event, attStatus: 3 });
    const denied = ingest({ ...exampleEvent(s, 'server_side_denied'), attStatus: 2 });
    await h.produce([authorized]);
    await h.produce([denied]);
    await waitFor(async () => (await okRequests({ partner: 'singular', device: s.ids.idfv as string })).length === 2, {
      what: 'both events at Singular',
    });
    const [withIdfa, without] = await okRequests({ partner: 'singular', device: s.ids.idfv as string });
    expect(withIdfa?.query).toMatchObject({ n: 'server_side', idfa, idfv: s.ids.idfv });
    expect(without?.query.n).toBe('server_side_denied');
    expect(without?.query.idfa).toBeUndefined();
  });

  it('carries a device’s limitDataSharing forward onto its later records', async () => {
    const s = { ...session(7104), limitDataSharing: true, timestampMs: Date.now() - 1_000 };
    const { limitDataSharing: _lds, ...plain } = s;
    const event = ingest(exampleEvent(plain, 'after_consent'));
    await h.produce([ingest(s)]);
    await h.produce([event]);
    await waitFor(async () => (await okRequests({ partner: 'singular', device: s.ids.idfv as string })).length === 2, {
      what: 'session and event at Singular',
    });
    const [launch, evt] = await okRequests({ partner: 'singular', device: s.ids.idfv as string });
    expect(launch?.query.data_sharing_options).toBe('{"limit_data_sharing":true}');
    expect(evt?.query).toMatchObject({ n: 'after_consent', data_sharing_options: '{"limit_data_sharing":true}' });
    const { rows } = await h.db.pool.query('SELECT limit_data_sharing, at_ms FROM device_consent WHERE device_key = $1', [
      event.deviceKey,
    ]);
    expect(rows).toEqual([{ limit_data_sharing: true, at_ms: String(s.timestampMs) }]);
  });

  it('sends nothing for an erased device when the topic is replayed from earliest, and keeps nothing of it in clear', async () => {
    const erased = { ...session(7105), customUserId: `user-${exampleUuid(7105, 7)}` };
    const kept = session(7106);
    const records = [erased, kept].flatMap((s) => [ingest(s), ingest(exampleEvent(s, 'ev_a')), ingest(exampleEvent(s, 'ev_b'))]);
    await h.produce(records);
    await waitFor(async () => (await okRequests({ partner: 'singular', device: erased.ids.idfv as string })).length === 3, {
      what: 'the erased device’s records at Singular',
    });
    await waitFor(async () => (await okRequests({ partner: 'singular', device: kept.ids.idfv as string })).length === 3, {
      what: 'the other device’s records at Singular',
    });
    await caughtUp();
    const identifiers = [erased.ids.idfv as string, erased.customUserId, erased.ip as string];
    expect((await findInClear(h.db.pool, h.db.schema, identifiers)).length).toBeGreaterThan(0);
    await createPrivacyRepo(h.db.pool).erase({ appId: APP_ID, device: `idfv:${erased.ids.idfv}`, requestedBy: 'test' });
    expect(await findInClear(h.db.pool, h.db.schema, identifiers)).toEqual([]);

    const sentBefore = (await okRequests()).length;
    await worker.stop();
    const out: string[] = [];
    const ctx = createContext({ env: h.env(), out: (l) => out.push(l), err: (l) => out.push(l) });
    const program = createProgram().configureOutput({ writeOut: (l) => out.push(l), writeErr: (l) => out.push(l) });
    registerReplayCommand(program, ctx);
    try {
      await program.parseAsync(['replay', '--to-earliest'], { from: 'user' });
    } finally {
      await ctx.close();
    }
    expect(out.join('\n')).toMatch(/records will run again/);
    worker = await h.startWorker(env);
    await caughtUp();

    expect((await okRequests()).length).toBe(sentBefore);
    const replies: ReplyMessage[] = [];
    await readTopicToEnd(testKafka(), h.topics.names.replies, (m) => {
      replies.push(decodeReply(m.value as Buffer, String(m.headers?.['s2s-schema'])));
      return true;
    });
    const erasedIds = new Set(records.slice(0, 3).map((m) => m.requestId));
    const erasedReplies = replies.filter((r) => erasedIds.has(r.requestId) && r.reason === 'erased');
    expect(erasedReplies.map((r) => [r.partner, r.outcome, r.singular])).toEqual(
      records.slice(0, 3).map(() => ['singular', 'suppressed', undefined]),
    );
    // The other device's records went through the ledger as usual: suppressed, not sent again.
    const dupes = await worker.metrics.registry.getSingleMetricAsString('s2s_worker_duplicates_total');
    expect(Number(/partner="singular"[^\n]* (\d+)/.exec(dupes)?.[1])).toBeGreaterThanOrEqual(3);
    expect(await findInClear(h.db.pool, h.db.schema, identifiers)).toEqual([]);
  });

  it('purges rows past their retention from the scheduler, and counts them', async () => {
    const old = Date.now() - 45 * DAY_MS;
    await h.db.pool.query(
      `INSERT INTO postbacks (app_id, postback_key, device_key, event_type, received_at) VALUES ($1, 'old-pb', $2, 'install', $3)`,
      [APP_ID, 'a'.repeat(32), new Date(old)],
    );
    const oldRequest = uuidV7Floor(old);
    await h.db.pool.query(
      `INSERT INTO request_outcomes (request_id, partner, app_id, device_key, outcome, reply) VALUES ($1, 'singular', $2, $3, 'forwarded', '{}')`,
      [oldRequest, APP_ID, 'a'.repeat(32)],
    );
    const counted = async (kind: string) => {
      const text = await worker.metrics.registry.getSingleMetricAsString('s2s_worker_purged_rows_total');
      return Number(new RegExp(`kind="${kind}"[^\\n]* (\\d+)`).exec(text)?.[1] ?? 0);
    };
    await waitFor(async () => (await counted('postbacks')) >= 1 && (await counted('replies')) >= 1, {
      what: 'a scheduled purge to delete the old rows',
    });
    const left = await h.db.pool.query(
      `SELECT (SELECT count(*) FROM postbacks WHERE postback_key = 'old-pb')::int AS pb,
              (SELECT count(*) FROM request_outcomes WHERE request_id = $1)::int AS ro`,
      [oldRequest],
    );
    expect(left.rows[0]).toEqual({ pb: 0, ro: 0 });
    // Fresh rows stay.
    expect((await h.db.pool.query('SELECT count(*)::int AS n FROM request_outcomes')).rows[0].n).toBeGreaterThan(0);
  });
});
