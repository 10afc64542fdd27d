/** Reading s2s.ingest back in the gateway's integration tests. */
import { type Admin, type IHeaders, type Kafka, Partitioners, type PartitionMetadata } from 'kafkajs';
import { uniqueId, waitFor } from '../support/index.js';

export interface ReadMessage {
  partition: number;
  offset: string;
  key: string;
  value: Buffer;
  headers: IHeaders;
}

/** Sum of the high watermarks of a topic's partitions: how many records it ever received. */
export async function endOffsetTotal(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((n, o) => n + Number(o.high), 0);
}

/** Every message of `topic` from the beginning, once at least `atLeast` have been read. */
export async function readTopic(kafka: Kafka, topic: string, atLeast: number): Promise<ReadMessage[]> {
  const out: ReadMessage[] = [];
  const consumer = kafka.consumer({ groupId: uniqueId('read'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({
          partition,
          offset: message.offset,
          key: String(message.key),
          value: message.value as Buffer,
          headers: message.headers ?? {},
        });
      },
    });
    await waitFor(() => out.length >= atLeast, { what: `${atLeast} messages on ${topic}`, timeoutMs: 20_000 });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** The partition kafkajs' default partitioner (Java-compatible murmur2) picks for `key`. */
export async function expectedPartition(admin: Admin, topic: string, key: string): Promise<number> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const partitionMetadata = (meta.topics[0]?.partitions ?? []) as PartitionMetadata[];
  return Partitioners.DefaultPartitioner()({ topic, partitionMetadata, message: { key, value: null } });
}
