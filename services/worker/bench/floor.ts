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
 * DATABASE_URL, DATABASE_SCHEMA, TOPIC, REPLY_TOPIC, GROUP_ID, SINGULAR_BASE_URL, SDK_KEY).
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
const pool = createPool({ databaseUrl: env('DATABASE_URL'), schema: env('DATABASE_SCHEMA'), max: 4 });
await pool.query(`CREATE TABLE IF NOT EXISTS floor_ledger (
  app_id text NOT NULL, idempotency_key text NOT NULL, state text NOT NULL, answer jsonb,
  PRIMARY KEY (app_id, idempotency_key))`);
const kafka = createKafka({ brokers: env('KAFKA_BROKERS').split(','), clientId: 'floor' });
const producer = createBatchingProducer(kafka);
await producer.connect();
const singular = createSingularClient({ baseUrl: env('SINGULAR_BASE_URL'), timeoutMs: 10_000 });
const app = { sdkKey: env('SDK_KEY'), ddlEnabled: false };

type Key = { appId: string; key: string };
const claim = createGroupCommit(
  async (batch: Key[]) => {
    const { rows } = await pool.query<{ k: string }>(
      `INSERT INTO floor_ledger (app_id, idempotency_key, state)
       SELECT a, k, 'sent' FROM unnest($1::text[], $2::text[]) AS t(a, k) ON CONFLICT DO NOTHING RETURNING idempotency_key AS k`,
      [batch.map((b) => b.appId), batch.map((b) => b.key)],
    );
    const claimed = new Set(rows.map((r) => r.k));
    return batch.map((b) => claimed.has(b.key));
  },
  { maxBatch: 500, maxConcurrent: 1, key: (b) => b.key },
);
const finish = createGroupCommit(
  async (batch: (Key & { answer: string })[]) => {
    await pool.query(
      `UPDATE floor_ledger l SET state = 'acked', answer = t.answer::jsonb
       FROM unnest($1::text[], $2::text[], $3::text[]) AS t(a, k, answer) WHERE l.app_id = t.a AND l.idempotency_key = t.k`,
      [batch.map((b) => b.appId), batch.map((b) => b.key), batch.map((b) => b.answer)],
    );
    return batch.map(() => undefined);
  },
  { maxBatch: 500, maxConcurrent: 1, key: (b) => b.key },
);

async function relay(message: KafkaMessage): Promise<void> {
  const m = decodeIngest(message.value as Buffer);
  const key = { appId: m.appId, key: m.idempotencyKey };
  if (!(await claim.submit(key))) return;
  const result =
    m.kind === 'event'
      ? await singular.event(m.record as EventRecord, app, { receivedAtMs: m.receivedAtMs })
      : await singular.session(m.record as SessionRecord, app, { install: true, receivedAtMs: m.receivedAtMs });
  const answer = JSON.stringify(result);
  await finish.submit({ ...key, answer });
  await producer.send(env('REPLY_TOPIC'), {
    key: m.deviceKey,
    value: Buffer.from(JSON.stringify({ requestId: m.requestId, answer })),
  });
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
