/**
 * The one way records reach Kafka: an idempotent producer with acks from all in-sync replicas,
 * behind a batcher that sends whatever has queued while the previous batch was in flight. At low
 * load a record goes out at once (no linger); under load, batches grow on their own, which is what
 * keeps throughput high without adding more than one round trip of latency.
 *
 * `send` resolves only once Kafka has acknowledged the record; it rejects with a retryable
 * `KAFKA_UNAVAILABLE` error when the broker cannot be reached in time (the gateway answers 503).
 */
import { RelayError } from '@s2s/contracts';
import type { Kafka, Message, Producer } from 'kafkajs';

export interface OutgoingMessage {
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
}

export interface BatchingProducer {
  send(topic: string, message: OutgoingMessage): Promise<void>;
  /** Records queued or in flight. */
  pending(): number;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
}

export interface BatchingProducerOptions {
  /** Upper bound of messages in one request. */
  maxBatch?: number;
  /** Give up on one batch after this long (the records are reported as not produced). */
  sendTimeoutMs?: number;
  transactionalId?: string;
}

interface Queued {
  topic: string;
  message: Message;
  resolve: () => void;
  reject: (e: Error) => void;
}

export class KafkaUnavailableError extends RelayError {
  constructor(cause: unknown) {
    super('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge the record', { retryable: true, status: 503, cause });
  }
}

export function createBatchingProducer(
  kafka: Kafka,
  { maxBatch = 1000, sendTimeoutMs = 10_000 }: BatchingProducerOptions = {},
): BatchingProducer {
  // kafkajs requires one in-flight request for idempotence; acks -1 waits for all in-sync replicas.
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2000 },
  });
  let queue: Queued[] = [];
  let inFlight = 0;
  let scheduled = false;

  const flush = async (): Promise<void> => {
    scheduled = false;
    if (inFlight > 0 || queue.length === 0) return;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(batch.length);
    inFlight = batch.length;
    const byTopic = new Map<string, Message[]>();
    for (const q of batch) {
      const list = byTopic.get(q.topic) ?? [];
      list.push(q.message);
      byTopic.set(q.topic, list);
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no acknowledgement within ${sendTimeoutMs} ms`)), sendTimeoutMs);
      });
      const sent = producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      sent.catch(() => {});
      await Promise.race([sent, timeout]);
      for (const q of batch) q.resolve();
    } catch (err) {
      const error = new KafkaUnavailableError(err);
      for (const q of batch) q.reject(error);
    } finally {
      clearTimeout(timer);
      inFlight = 0;
      if (queue.length > 0) schedule();
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    // setImmediate gathers records that arrive in the same turn of the event loop.
    setImmediate(() => void flush());
  };

  return {
    send(topic, { key, value, headers }) {
      return new Promise<void>((resolve, reject) => {
        const message: Message = { key, value };
        if (headers) message.headers = headers;
        queue.push({ topic, message, resolve, reject });
        if (queue.length >= maxBatch || inFlight === 0) schedule();
      });
    },
    pending: () => queue.length + inFlight,
    connect: () => producer.connect(),
    async disconnect() {
      while (queue.length > 0 || inFlight > 0) await new Promise((r) => setTimeout(r, 5));
      await producer.disconnect();
    },
  };
}
