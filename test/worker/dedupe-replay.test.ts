import { GroupActiveError, groupLag, readTopicToEnd, resetGroupOffsets } from '@s2s/bus';
import { decodeReply, exampleEvent, exampleIosSession, type ReplyMessage } from '@s2s/contracts';
import { createResendWindows } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testKafka, waitFor } from '../support/index.js';
import { APP_ID, createHarness, type Harness, ingest } from './support.js';

const DEVICES = 5;

describe('worker: dedupe (client retries, redelivery) and replay', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => h?.cleanup());

  const partnerRequests = async () => {
    const all = await h.sandbox.requests();
    return all.filter((e) => e.status === 200 && !e.path.endsWith('jwks.json'));
  };
  const caughtUp = () =>
    waitFor(async () => (await groupLag(h.topics.admin, h.groupId, h.topics.names.ingest)).total === 0, {
      what: 'the worker group to commit every record',
    });

  it('sends a record submitted 3 times once, answers the repeats with the original reply, and replays safely', async () => {
    const sessions = Array.from({ length: DEVICES }, (_, i) => exampleIosSession(8100 + i, APP_ID));
    const first = sessions.flatMap((s) => [ingest(s), ingest(exampleEvent(s, 'ev_a')), ingest(exampleEvent(s, 'ev_b'))]);
    // A client retry: the same event 3 times (one idempotency key, three requests).
    const retried = [1, 2, 3].map(() => ingest(exampleEvent(sessions[0]!, 'ev_retried'), { idemKey: 'client-key-1' }));
    const worker = await h.startWorker();
    await h.produce(first);
    await h.produce(retried);

    // 5 sessions × (singular, oath, onside) + 10 events + the retried event once.
    const expected = DEVICES * 3 + DEVICES * 2 + 1;
    await waitFor(async () => (await partnerRequests()).length >= expected, { what: `${expected} partner requests` });
    await caughtUp();
    const requests = await partnerRequests();
    expect(requests).toHaveLength(expected);
    expect(requests.filter((e) => e.query.n === 'ev_retried')).toHaveLength(1);
    expect(requests.some((e) => e.duplicate)).toBe(false);

    const { rows } = await h.db.pool.query(
      'SELECT request_id::text AS id, outcome, reason FROM request_outcomes WHERE request_id = ANY($1::uuid[]) ORDER BY request_id',
      [retried.map((m) => m.requestId)],
    );
    expect(rows.map((r) => r.outcome)).toEqual(['forwarded', 'suppressed', 'suppressed']);
    expect(rows[1].reason).toBe('duplicate');

    // Every outcome went to s2s.replies too, keyed by device.
    const replies: ReplyMessage[] = [];
    await readTopicToEnd(testKafka(), h.topics.names.replies, (m) => {
      replies.push(decodeReply(m.value as Buffer, String(m.headers?.['s2s-schema'])));
      return true;
    });
    const finals = replies.filter((r) => r.outcome !== 'parked');
    expect(finals.filter((r) => r.outcome === 'forwarded')).toHaveLength(expected);
    expect(finals.filter((r) => r.outcome === 'suppressed')).toHaveLength(2);
    expect(new Set(finals.map((r) => `${r.requestId}/${r.partner}`)).size).toBe(finals.length);

    // Replay refuses while a worker is in the group.
    await expect(
      resetGroupOffsets(h.topics.admin, { groupId: h.groupId, topic: h.topics.names.ingest, target: { kind: 'earliest' } }),
    ).rejects.toBeInstanceOf(GroupActiveError);
    await worker.stop();

    // Replay from earliest: Kafka redelivers everything, the ledger lets nothing through.
    await resetGroupOffsets(h.topics.admin, { groupId: h.groupId, topic: h.topics.names.ingest, target: { kind: 'earliest' } });
    const replayer = await h.startWorker();
    await caughtUp();
    expect(await partnerRequests()).toHaveLength(expected);
    await replayer.stop();

    // Replay with --resend: a resend window makes the ledger let each record through once more.
    await createResendWindows(h.db.pool).add({ fromMs: 0, toMs: Date.now(), ttlMs: 3_600_000, note: 'test' });
    await resetGroupOffsets(h.topics.admin, { groupId: h.groupId, topic: h.topics.names.ingest, target: { kind: 'earliest' } });
    await h.startWorker();
    await waitFor(async () => (await partnerRequests()).length >= 2 * expected, { what: 'everything sent again' });
    await caughtUp();
    const again = await partnerRequests();
    expect(again).toHaveLength(2 * expected);
    expect(again.filter((e) => e.query.n === 'ev_retried')).toHaveLength(2);
  });
});
