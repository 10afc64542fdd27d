import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTopics, type TestTopics, testKafka, uniqueId, waitFor } from '../../../test/support/index.js';
import { createBatchingProducer } from './producer.js';

describe('batching producer (real broker)', () => {
  let topics: TestTopics;
  beforeAll(async () => {
    topics = await createTestTopics();
  });
  afterAll(async () => topics?.cleanup());

  it('acknowledges every record only once it is in Kafka, in order per key, with headers', async () => {
    const kafka = testKafka();
    const producer = createBatchingProducer(kafka, { maxBatch: 50 });
    await producer.connect();
    const keys = Array.from({ length: 20 }, (_, i) => `device-${i}`);
    // 400 concurrent sends: the batcher groups them; each promise resolves after the ack.
    await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        producer.send(topics.names.ingest, {
          key: keys[i % 20] as string,
          value: Buffer.from(String(i)),
          headers: { 's2s-schema': 'fp' },
        }),
      ),
    );
    expect(producer.pending()).toBe(0);
    await producer.disconnect();

    const byKey = new Map<string, number[]>();
    let headerOk = 0;
    const consumer = kafka.consumer({ groupId: uniqueId('g'), maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.names.ingest, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const list = byKey.get(String(message.key)) ?? [];
        list.push(Number(String(message.value)));
        byKey.set(String(message.key), list);
        if (String(message.headers?.['s2s-schema']) === 'fp') headerOk++;
      },
    });
    await waitFor(() => [...byKey.values()].reduce((n, l) => n + l.length, 0) >= 400, { what: '400 records' });
    await consumer.disconnect();
    expect(headerOk).toBe(400);
    for (const list of byKey.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
  });
});
