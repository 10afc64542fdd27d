/**
 * The floor of the gateway benchmark: the least any gateway must do, on this stack, to keep the
 * intake contract's durability (issue: "2xx only after Kafka acknowledged", "same idempotency key →
 * no second record"). It parses the body, claims the idempotency key in Postgres (one batched
 * INSERT … ON CONFLICT per round trip, as the gateway does), produces the raw body to s2s.ingest
 * through the same idempotent, acks=all batching producer, and answers 202 after the ack.
 *
 * It does none of the rest: no API key, no validation, no Avro, no request id, no log line, no
 * metrics, no reply for a repeated key. So its req/s is an upper bound for the gateway, and
 * floor / bare is the most any gateway built on Fastify, pg and kafkajs can reach on this machine.
 * Run as its own process by bench/gateway.ts (PORT, DATABASE_URL, DATABASE_SCHEMA, KAFKA_BROKERS,
 * TOPIC from the environment).
 */
import { createHash } from 'node:crypto';
import { createBatchingProducer, createKafka } from '@s2s/bus';
import { createGroupCommit, createPool } from '@s2s/store';
import Fastify from 'fastify';

const env = process.env;
const topic = env.TOPIC as string;
const pool = createPool({ databaseUrl: env.DATABASE_URL as string, schema: env.DATABASE_SCHEMA as string, max: 4 });
await pool.query(
  'CREATE TABLE IF NOT EXISTS floor_intake (app_id text NOT NULL, idempotency_key text NOT NULL, PRIMARY KEY (app_id, idempotency_key))',
);
const producer = createBatchingProducer(createKafka({ brokers: (env.KAFKA_BROKERS as string).split(','), clientId: 'floor' }));
await producer.connect();

type Claim = { appId: string; key: string };
const claims = createGroupCommit(
  async (batch: Claim[]) => {
    const { rows } = await pool.query<{ k: string }>(
      `INSERT INTO floor_intake (app_id, idempotency_key)
       SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING RETURNING idempotency_key AS k`,
      [batch.map((c) => c.appId), batch.map((c) => c.key)],
    );
    const inserted = new Set(rows.map((r) => r.k));
    return batch.map((c) => inserted.has(c.key));
  },
  { maxBatch: 1000, maxConcurrent: 4 },
);

const app = Fastify({ bodyLimit: 256 * 1024 });
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, raw, done) => {
  try {
    done(null, { raw: raw as string, json: JSON.parse(raw as string) as Record<string, unknown> });
  } catch (err) {
    done(err as Error, undefined);
  }
});
app.post('/v1/:kind', async (request, reply) => {
  const { raw, json } = request.body as { raw: string; json: Record<string, unknown> };
  const appId = String(json.appId);
  const key = typeof json.eventId === 'string' ? json.eventId : createHash('sha256').update(raw).digest('hex');
  const ids = (json.ids ?? {}) as Record<string, unknown>;
  const device = String(ids.idfv ?? ids.aifa ?? ids.andi ?? key);
  if (await claims.submit({ appId, key })) await producer.send(topic, { key: `${appId}:${device}`, value: Buffer.from(raw) });
  return reply.code(202).send({ status: 'accepted' });
});
await app.listen({ port: Number(env.PORT), host: '127.0.0.1' });
process.on(
  'SIGTERM',
  () =>
    void app
      .close()
      .then(() => producer.disconnect())
      .then(() => pool.end())
      .then(() => process.exit(0)),
);
