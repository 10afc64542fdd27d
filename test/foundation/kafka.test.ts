import type { Consumer, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTopics, type TestTopics, testKafka, uniqueId, waitFor } from '../support/index.js';

describe('Kafka broker (real, as the services use it)', () => {
  let kafka: Kafka;
  let topics: TestTopics;
  beforeAll(async () => {
    kafka = testKafka();
    topics = await createTestTopics(kafka);
  });
  afterAll(async () => topics?.cleanup());

  it('creates the three relay topics with the partitions and retention replay needs', async () => {
    const meta = await topics.admin.fetchTopicMetadata({
      topics: Object.values(topics.names),
    });
    const partitions = Object.fromEntries(meta.topics.map((t) => [t.name, t.partitions.length]));
    expect(partitions[topics.names.ingest]).toBe(12);
    expect(partitions[topics.names.replies]).toBeGreaterThan(0);
    expect(partitions[topics.names.dlq]).toBeGreaterThan(0);
    const { resources } = await topics.admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        {
          type: 2 /* TOPIC */,
          name: topics.names.ingest,
          configNames: ['retention.ms'],
        },
      ],
    });
    const retention = Number(resources[0]?.configEntries.find((c) => c.configName === 'retention.ms')?.configValue);
    expect(retention).toBeGreaterThanOrEqual(7 * 24 * 3600 * 1000);
  });

  it('keeps messages with the same key in one partition, in order', async () => {
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const keys = ['device-a', 'device-b', 'device-c'];
    for (let i = 0; i < 30; i++) {
      const key = keys[i % keys.length] as string;
      await producer.send({
        topic: topics.names.ingest,
        acks: -1,
        messages: [{ key, value: `${key}:${i}` }],
      });
    }
    await producer.disconnect();

    const seen = new Map<string, { partitions: Set<number>; values: number[] }>();
    const consumer = kafka.consumer({ groupId: uniqueId('g') });
    await consumer.connect();
    await consumer.subscribe({
      topic: topics.names.ingest,
      fromBeginning: true,
    });
    let count = 0;
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const key = String(message.key);
        const entry = seen.get(key) ?? {
          partitions: new Set<number>(),
          values: [],
        };
        entry.partitions.add(partition);
        entry.values.push(Number(String(message.value).split(':')[1]));
        seen.set(key, entry);
        count++;
      },
    });
    await waitFor(() => count >= 30, { what: '30 messages' });
    await consumer.disconnect();
    for (const key of keys) {
      const entry = seen.get(key);
      expect(entry?.partitions.size).toBe(1);
      expect(entry?.values).toEqual([...entry!.values].sort((a, b) => a - b));
      expect(entry?.values).toHaveLength(10);
    }
  });

  it('resumes a consumer group after its committed offset when the consumer restarts', async () => {
    const topic = topics.names.replies;
    const groupId = uniqueId('g');
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const send = (from: number, to: number) =>
      producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: to - from }, (_, i) => ({
          key: 'k',
          value: String(from + i),
        })),
      });
    await send(0, 5);

    const consumeUntil = async (n: number): Promise<string[]> => {
      const got: string[] = [];
      const consumer: Consumer = kafka.consumer({ groupId });
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          got.push(String(message.value));
          await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
        },
      });
      await waitFor(() => got.length >= n, { what: `${n} messages` });
      await consumer.disconnect();
      return got;
    };

    expect(await consumeUntil(5)).toEqual(['0', '1', '2', '3', '4']);
    await send(5, 8);
    // A restarted member of the same group starts after the committed offset: nothing repeated.
    expect(await consumeUntil(3)).toEqual(['5', '6', '7']);
    const offsets = await topics.admin.fetchOffsets({
      groupId,
      topics: [topic],
    });
    const committed = offsets[0]?.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
    expect(committed).toBe(8);
    await producer.disconnect();
  });
});
