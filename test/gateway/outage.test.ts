import { createServer } from 'node:net';
import { createPool } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeIngest, exampleAndroidSession, startTestGateway, type TestGateway } from '../../services/gateway/test/harness.js';
import { endOffsetTotal, readTopic } from './kafka-helpers.js';

/** A loopback port where nothing listens (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('Kafka outage', () => {
  let up: TestGateway;
  let down: TestGateway;
  beforeAll(async () => {
    up = await startTestGateway();
    // A second gateway on the same topics and database whose producer points at a dead broker address:
    // the shared broker keeps serving every other test.
    down = await startTestGateway({
      topics: up.topics,
      schema: up.schema,
      producerBrokers: [`127.0.0.1:${await closedPort()}`],
      sendTimeoutMs: 2000,
      env: { RETRY_AFTER_SECONDS: '7' },
    });
  });
  afterAll(async () => {
    await down?.close();
    await up?.close();
  });

  it('answers 503 with Retry-After, loses nothing accepted before, and a retry produces the same request once', async () => {
    const accepted: string[] = [];
    for (let n = 0; n < 5; n++) {
      const res = await up.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { 'x-api-key': up.apiKey, 'idempotency-key': `before-${n}` },
        payload: exampleAndroidSession(400 + n, up.appId),
      });
      expect(res.statusCode).toBe(202);
      accepted.push(res.json().requestId);
    }

    const record = exampleAndroidSession(450, down.appId);
    const started = Date.now();
    const failed = await down.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { 'x-api-key': down.apiKey, 'idempotency-key': 'during' },
      payload: record,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(failed.statusCode).toBe(503);
    expect(failed.headers['retry-after']).toBe('7');
    expect(failed.json()).toMatchObject({ code: 'KAFKA_UNAVAILABLE', retryable: true });
    const pendingId = failed.json().requestId as string;
    expect(pendingId).toMatch(/^[0-9a-f-]{36}$/);

    const pending = await up.app.inject({
      method: 'GET',
      url: `/v1/requests/${pendingId}`,
      headers: { 'x-api-key': down.apiKey },
    });
    expect(pending.json().status).toBe('pending');

    // Everything acknowledged before the outage is in Kafka; the refused record is not.
    let read = await readTopic(up.kafka, up.topics.names.ingest, accepted.length);
    expect(read.map((m) => decodeIngest(m.value).requestId).sort()).toEqual([...accepted].sort());

    // The client retries (same key) once Kafka is back: same request id, produced exactly once.
    const retried = await up.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { 'x-api-key': down.apiKey, 'idempotency-key': 'during' },
      payload: record,
    });
    expect(retried.statusCode).toBe(202);
    expect(retried.json().requestId).toBe(pendingId);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    read = await readTopic(up.kafka, up.topics.names.ingest, accepted.length + 1);
    expect(read.filter((m) => decodeIngest(m.value).requestId === pendingId)).toHaveLength(1);
    expect(read).toHaveLength(accepted.length + 1);
  });

  it('is not ready while its Kafka is unreachable', async () => {
    const ready = await up.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toEqual({ postgres: 'ok', kafka: 'ok', replies: 'ok' });
    const notReady = await down.app.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().checks.postgres).toBe('ok');
    expect(notReady.json().checks.kafka).not.toBe('ok');
    expect((await down.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers 503 DATABASE_UNAVAILABLE when Postgres fails, and produces nothing', async () => {
    const pool = createPool({ databaseUrl: up.schema.databaseUrl, schema: up.schema.schema, max: 2 });
    const pg = await startTestGateway({
      topics: up.topics,
      schema: up.schema,
      gatewayPool: pool,
      env: { RETRY_AFTER_SECONDS: '3' },
    });
    try {
      const headers = { 'x-api-key': pg.apiKey };
      // Authenticated once (and cached), then Postgres goes away.
      expect((await pg.app.inject({ method: 'POST', url: '/v1/sessions', headers, payload: {} })).statusCode).toBe(400);
      await pool.end();
      const before = await endOffsetTotal(up.topics.admin, up.topics.names.ingest);
      const res = await pg.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers,
        payload: exampleAndroidSession(460, pg.appId),
      });
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('3');
      expect(res.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE', retryable: true });
      expect(await endOffsetTotal(up.topics.admin, up.topics.names.ingest)).toBe(before);
      const ready = await pg.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks.postgres).not.toBe('ok');
    } finally {
      await pg.close();
    }
  });
});
