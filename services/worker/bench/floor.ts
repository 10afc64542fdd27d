/**
 * The durable floor of the pipeline benchmark: the least a relay must do, on this stack, to keep
 * "nothing lost" and "nothing sent twice" once records come through Kafka. Per record it reads the
 * Avro message from the topic, claims its ledger row in Postgres before the partner call (a row that
 * exists already means a repeat: not sent again), calls Singular with the same client as the worker,
 * marks the row done with the answer, publishes a reply, and lets the consumer commit the batch's
 * offsets only once all of that is done. A device's records go one after the other (per-device
 * order); devices and partitions run concurrently. Postgres writes go through the worker's own group
 * commit (createGroupCommit in packages/store), one statement per batch of concurrent records.
 *
 * It does none of the rest: no device graph, no session-first parking, no session timeout, no
 * consent or erasure checks, no retries or parked lanes, no DLQ, no metrics. So its records/s is an
 * upper bound for the worker's, and floor / naive the most a relay built on kafkajs, pg and Postgres
 * reaches on this machine. Its latency is no bound: it finishes each fetched batch before taking the
 * next (kafkajs eachBatch), where the worker's lanes keep going. Run as its own process by bench/pipeline.ts (KAFKA_BROKERS,
 * DATABASE_URL, DATABASE_SCHEMA, TOPIC, REPLY_TOPIC, GROUP_ID, SINGULAR_BASE_URL, SDK_KEY, FLOOR_ROWS).
 *
 * FLOOR_ROWS=contract adds, in the cheapest form, the rows the worker's contract writes per record
 * beyond durability (issue 5): the device's last activity (in the claim's statement), the outcome
 * kept for GET /v1/requests/{id} (in the completion's statement), and the ledger's acknowledged
 * state once the reply is out (batched off the hot path, as the worker's publisher does). Still no
 * device graph beyond that, no session-first parking, consent, erasure, retries, DLQ or metrics.
 */
import { createBatchingProducer, createKafka } from '@s2s/bus';
import { decodeIngest, type EventRecord, type SessionRecord } from '@s2s/contracts';
import { createSingularClient } from '@s2s/partners';
import { createGroupCommit, createPool } from '@s2s/store';
import type { KafkaMessage } from 'kafkajs';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`bench/floor.ts: ${name} is not set`);
  return value;
};
const rowsMode = process.env.FLOOR_ROWS ?? 'durable';
if (rowsMode !== 'durable' && rowsMode !== 'contract')
  throw new Error(`bench/floor.ts: FLOOR_ROWS must be durable or contract, not ${rowsMode}`);
const contract = rowsMode === 'contract';
const pool = createPool({ databaseUrl: env('DATABASE_URL'), schema: env('DATABASE_SCHEMA'), max: 4 });
await pool.query(`CREATE TABLE IF NOT EXISTS floor_ledger (
  app_id text NOT NULL, idempotency_key text NOT NULL, state text NOT NULL, answer jsonb,
  PRIMARY KEY (app_id, idempotency_key));
  CREATE TABLE IF NOT EXISTS floor_devices (
  app_id text NOT NULL, device_key text NOT NULL, last_activity_ms bigint NOT NULL, PRIMARY KEY (app_id, device_key));
  CREATE TABLE IF NOT EXISTS floor_outcomes (request_id uuid PRIMARY KEY, reply jsonb NOT NULL)`);
const kafka = createKafka({ brokers: env('KAFKA_BROKERS').split(','), clientId: 'floor' });
const producer = createBatchingProducer(kafka);
await producer.connect();
const singular = createSingularClient({ baseUrl: env('SINGULAR_BASE_URL'), timeoutMs: 10_000 });
const app = { sdkKey: env('SDK_KEY'), ddlEnabled: false };

type Key = { appId: string; key: string };
const CLAIM_SQL = `INSERT INTO floor_ledger (app_id, idempotency_key, state)
  SELECT a, k, 'sent' FROM unnest($1::text[], $2::text[]) AS t(a, k) ON CONFLICT DO NOTHING RETURNING idempotency_key AS k`;
// A device's records are relayed one after the other, so a batch holds each device once.
const CLAIM_CONTRACT_SQL = `WITH dev AS (
    INSERT INTO floor_devices (app_id, device_key, last_activity_ms) SELECT * FROM unnest($1::text[], $3::text[], $4::bigint[])
    ON CONFLICT (app_id, device_key) DO UPDATE SET last_activity_ms = GREATEST(floor_devices.last_activity_ms, EXCLUDED.last_activity_ms)
  ) ${CLAIM_SQL}`;
const claim = createGroupCommit(
  async (batch: (Key & { deviceKey: string; atMs: number })[]) => {
    const { rows } = await pool.query<{ k: string }>(contract ? CLAIM_CONTRACT_SQL : CLAIM_SQL, [
      batch.map((b) => b.appId),
      batch.map((b) => b.key),
      ...(contract ? [batch.map((b) => b.deviceKey), batch.map((b) => b.atMs)] : []),
    ]);
    const claimed = new Set(rows.map((r) => r.k));
    return batch.map((b) => claimed.has(b.key));
  },
  { maxBatch: 500, maxConcurrent: 1, key: (b) => b.key },
);
const FINISH_SQL = (state: string) => `UPDATE floor_ledger l SET state = '${state}', answer = t.answer::jsonb
  FROM unnest($1::text[], $2::text[], $3::text[]) AS t(a, k, answer) WHERE l.app_id = t.a AND l.idempotency_key = t.k`;
const FINISH_CONTRACT_SQL = `WITH o AS (
    INSERT INTO floor_outcomes (request_id, reply) SELECT * FROM unnest($4::uuid[], $3::jsonb[])
    ON CONFLICT (request_id) DO UPDATE SET reply = EXCLUDED.reply
  ) ${FINISH_SQL('sent')}`;
const finish = createGroupCommit(
  async (batch: (Key & { requestId: string; answer: string })[]) => {
    await pool.query(contract ? FINISH_CONTRACT_SQL : FINISH_SQL('acked'), [
      batch.map((b) => b.appId),
      batch.map((b) => b.key),
      batch.map((b) => b.answer),
      ...(contract ? [batch.map((b) => b.requestId)] : []),
    ]);
    return batch.map(() => undefined);
  },
  { maxBatch: 500, maxConcurrent: 1, key: (b) => b.key },
);
// FLOOR_ROWS=contract: rows whose reply is out, marked acked every 200 ms.
let acked: Key[] = [];
setInterval(() => {
  const keys = acked;
  acked = [];
  if (keys.length > 0)
    void pool
      .query(
        `UPDATE floor_ledger l SET state = 'acked' FROM unnest($1::text[], $2::text[]) AS t(a, k)
       WHERE l.app_id = t.a AND l.idempotency_key = t.k`,
        [keys.map((k) => k.appId), keys.map((k) => k.key)],
      )
      .catch((err: unknown) => console.error('bench/floor.ts: marking rows acked failed:', err));
}, 200).unref();

async function relay(message: KafkaMessage): Promise<void> {
  const m = decodeIngest(message.value as Buffer);
  const key = { appId: m.appId, key: m.idempotencyKey };
  if (!(await claim.submit({ ...key, deviceKey: m.deviceKey, atMs: m.record.timestampMs ?? m.receivedAtMs }))) return;
  const result =
    m.kind === 'event'
      ? await singular.event(m.record as EventRecord, app, { receivedAtMs: m.receivedAtMs })
      : await singular.session(m.record as SessionRecord, app, { install: true, receivedAtMs: m.receivedAtMs });
  const answer = JSON.stringify(result);
  await finish.submit({ ...key, requestId: m.requestId, answer });
  await producer.send(env('REPLY_TOPIC'), {
    key: m.deviceKey,
    value: Buffer.from(JSON.stringify({ requestId: m.requestId, answer })),
  });
  if (contract) acked.push(key);
}

const consumer = kafka.consumer({ groupId: env('GROUP_ID'), maxWaitTimeInMs: 100 });
await consumer.connect();
await consumer.subscribe({ topic: env('TOPIC'), fromBeginning: true });
await consumer.run({
  partitionsConsumedConcurrently: 12,
  // The batch's offsets are committed after eachBatch returns, so only once every record is done.
  eachBatch: async ({ batch }) => {
    const byDevice = new Map<string, KafkaMessage[]>();
    for (const message of batch.messages) {
      const device = String(message.key);
      const list = byDevice.get(device) ?? [];
      list.push(message);
      byDevice.set(device, list);
    }
    await Promise.all(
      [...byDevice.values()].map(async (list) => {
        for (const message of list) await relay(message);
      }),
    );
  },
});
process.on(
  'SIGTERM',
  () =>
    void consumer
      .disconnect()
      .then(() => producer.disconnect())
      .then(() => singular.close())
      .then(() => pool.end())
      .then(() => process.exit(0)),
);
