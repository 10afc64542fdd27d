import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeIngest,
  deviceKey,
  exampleAndroidSession,
  exampleEvent,
  exampleIosSession,
  INGEST_SCHEMA_FINGERPRINT,
  SCHEMA_HEADER,
  startTestGateway,
  type TestGateway,
} from '../../services/gateway/test/harness.js';
import { waitFor } from '../support/index.js';
import { endOffsetTotal, expectedPartition, readTopic } from './kafka-helpers.js';

describe('gateway → s2s.ingest (real broker and Postgres)', () => {
  let gw: TestGateway;
  const headers = () => ({ authorization: `Bearer ${gw.apiKey}` });
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => gw?.close());

  it('produces each accepted record keyed by device, on the partitioner’s partition, Avro with its fingerprint', async () => {
    const sessions = Array.from({ length: 8 }, (_, n) =>
      n % 2 ? exampleIosSession(100 + n, gw.appId) : exampleAndroidSession(100 + n, gw.appId),
    );
    const records = [
      ...sessions.map((record) => ({ kind: 'session', record })),
      { kind: 'event', record: exampleEvent(sessions[0]!) },
    ];
    const ids = new Map<string, (typeof records)[number]>();
    for (const r of records) {
      const res = await gw.app.inject({ method: 'POST', url: `/v1/${r.kind}s`, headers: headers(), payload: r.record });
      expect(res.statusCode).toBe(202);
      ids.set(res.json().requestId, r);
    }
    const read = await readTopic(gw.kafka, gw.topics.names.ingest, records.length);
    expect(read).toHaveLength(records.length);
    for (const m of read) {
      expect(String(m.headers[SCHEMA_HEADER])).toBe(INGEST_SCHEMA_FINGERPRINT);
      const msg = decodeIngest(m.value, String(m.headers[SCHEMA_HEADER]));
      const sent = ids.get(msg.requestId);
      expect(sent, msg.requestId).toBeDefined();
      expect(msg.kind).toBe(sent!.kind);
      expect(msg.record).toEqual(sent!.record);
      expect(m.key).toBe(deviceKey(sent!.record));
      expect(msg.deviceKey).toBe(m.key);
      expect(m.partition).toBe(await expectedPartition(gw.topics.admin, gw.topics.names.ingest, m.key));
    }
    // Postgres knows each of them as produced once the batched update ran.
    await waitFor(async () => {
      const { rows } = await gw.schema.pool.query<{ n: string }>('SELECT count(*) AS n FROM intake WHERE produced');
      return Number(rows[0]?.n) === records.length;
    });
  });

  it('turns the same idempotency key into one Kafka record, and another body under it into 409', async () => {
    const before = await endOffsetTotal(gw.topics.admin, gw.topics.names.ingest);
    const record = exampleIosSession(200, gw.appId);
    const send = (body: object, key?: string) =>
      gw.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { ...headers(), ...(key ? { 'idempotency-key': key } : {}) },
        payload: body,
      });
    const first = await send(record, 'key-200');
    const again = await send(record, 'key-200');
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.json().requestId).toBe(first.json().requestId);
    expect(again.headers['idempotent-replayed']).toBe('true');

    const conflict = await send({ ...record, appVersion: '9.9.9' }, 'key-200');
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ code: 'IDEMPOTENCY_CONFLICT', existingRequestId: first.json().requestId });

    // eventId is the key when no header is sent; the body hash when neither is.
    const withEventId = { ...exampleIosSession(201, gw.appId), eventId: 'evt-201' };
    const e1 = await send(withEventId);
    const e2 = await send(withEventId);
    expect(e2.json().requestId).toBe(e1.json().requestId);
    const bare = exampleIosSession(202, gw.appId);
    const b1 = await send(bare);
    const b2 = await send({ ...bare });
    expect(b2.json().requestId).toBe(b1.json().requestId);
    expect((await send({ ...withEventId, appVersion: '2.0.0' })).statusCode).toBe(409);

    // Concurrent duplicates as well: eight at once, one record.
    const burst = await Promise.all(Array.from({ length: 8 }, () => send(exampleIosSession(203, gw.appId), 'key-203')));
    expect(new Set(burst.map((r) => r.json().requestId)).size).toBe(1);
    expect(burst.every((r) => r.statusCode === 202)).toBe(true);

    await waitFor(async () => (await endOffsetTotal(gw.topics.admin, gw.topics.names.ingest)) >= before + 4);
    const read = await readTopic(gw.kafka, gw.topics.names.ingest, before + 4);
    const mine = [first, e1, b1, burst[0]!].map((r) => r.json().requestId as string);
    const counts = mine.map((id) => read.filter((m) => decodeIngest(m.value).requestId === id).length);
    expect(counts).toEqual([1, 1, 1, 1]);
    expect(await endOffsetTotal(gw.topics.admin, gw.topics.names.ingest)).toBe(before + 4);
  });

  it('validates a batch all-or-nothing, then produces it in order with one result per item', async () => {
    const session = exampleAndroidSession(300, gw.appId);
    const events = Array.from({ length: 5 }, (_, i) => ({ ...exampleEvent(session), eventId: `b300-${i}` }));
    const items = [{ kind: 'session', record: session }, ...events.map((record) => ({ kind: 'event', record }))];
    const before = await endOffsetTotal(gw.topics.admin, gw.topics.names.ingest);

    const bad = items.map((it, i) => (i === 3 ? { ...it, record: { ...it.record, name: '' } } : it));
    const invalid = await gw.app.inject({ method: 'POST', url: '/v1/batch', headers: headers(), payload: { records: bad } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().errors).toContainEqual({ field: 'records.3.record.name', message: 'must not be empty' });
    expect(new Set(invalid.json().errors.map((e: { field: string }) => e.field))).toEqual(new Set(['records.3.record.name']));

    const ok = await gw.app.inject({ method: 'POST', url: '/v1/batch', headers: headers(), payload: { records: items } });
    expect(ok.statusCode).toBe(202);
    const results = ok.json().results as { index: number; result: string; requestId: string }[];
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(results.every((r) => r.result === 'accepted')).toBe(true);

    const read = await readTopic(gw.kafka, gw.topics.names.ingest, before + items.length);
    expect(read).toHaveLength(before + items.length); // the invalid batch produced nothing
    const order = read.map((m) => decodeIngest(m.value).requestId).filter((id) => results.some((r) => r.requestId === id));
    expect(order).toEqual(results.map((r) => r.requestId));
    expect(new Set(read.filter((m) => m.key === deviceKey(session)).map((m) => m.partition)).size).toBe(1);

    const replay = await gw.app.inject({ method: 'POST', url: '/v1/batch', headers: headers(), payload: { records: items } });
    expect(replay.json().results.map((r: { result: string }) => r.result)).toEqual(Array(6).fill('replayed'));
  });
});
