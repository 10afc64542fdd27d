import { groupLag, readTopicToEnd } from '@s2s/bus';
import { decodeReply, exampleEvent, exampleIosSession, type ReplyMessage } from '@s2s/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerReplayCommand } from '../../services/cli/src/commands/replay.js';
import { createContext } from '../../services/cli/src/context.js';
import { createProgram } from '../../services/cli/src/program.js';
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
  /** `s2s-relay replay …` as an operator runs it. */
  const replay = async (...args: string[]) => {
    const out: string[] = [];
    const env = h.env();
    const ctx = createContext({ env: { ...env, WORKER_GROUP_ID: h.groupId }, out: (l) => out.push(l), err: (l) => out.push(l) });
    const program = createProgram().configureOutput({ writeOut: (l) => out.push(l), writeErr: (l) => out.push(l) });
    registerReplayCommand(program, ctx);
    try {
      await program.parseAsync(['replay', ...args], { from: 'user' });
      return out;
    } finally {
      await ctx.close();
    }
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
    await expect(replay('--to-earliest')).rejects.toThrow(/active member.*Stop every worker first/);
    await worker.stop();

    // Replay from earliest: Kafka redelivers everything, the ledger lets nothing through.
    const printed = await replay('--to-earliest');
    expect(printed.join('\n')).toContain(`${first.length + retried.length} records will run again`);
    const replayer = await h.startWorker();
    await caughtUp();
    expect(await partnerRequests()).toHaveLength(expected);
    await replayer.stop();

    // Replay with --resend: a resend window makes the ledger let each record through once more.
    expect((await replay('--to-earliest', '--resend')).join('\n')).toMatch(/resend window #1/);
    await h.startWorker();
    await waitFor(async () => (await partnerRequests()).length >= 2 * expected, { what: 'everything sent again' });
    await caughtUp();
    const again = await partnerRequests();
    expect(again).toHaveLength(2 * expected);
    expect(again.filter((e) => e.query.n === 'ev_retried')).toHaveLength(2);
  });
});
