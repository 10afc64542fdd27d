/**
 * Publishes outcomes: replies to s2s.replies and dead letters to s2s.dlq (Avro, keyed by device,
 * schema fingerprint in the `s2s-schema` header), through the batching idempotent producer: each
 * promise resolves once Kafka has the message. Rows whose reply is out are marked acked in the
 * ledger in batches (sent → acked), off the hot path.
 */
import type { BatchingProducer, TopicNames } from '@s2s/bus';
import {
  type DeadLetterMessage,
  DLQ_SCHEMA_FINGERPRINT,
  encodeDeadLetter,
  encodeReply,
  REPLY_SCHEMA_FINGERPRINT,
  type ReplyMessage,
  SCHEMA_HEADER,
} from '@s2s/contracts';
import type { Logger } from '@s2s/logging';
import type { Ledger, LedgerKey } from '@s2s/store';
import type { Metrics } from './metrics.js';

export interface Publisher {
  reply(reply: ReplyMessage): Promise<void>;
  deadLetter(letter: DeadLetterMessage): Promise<void>;
  /** The row's reply is on s2s.replies: mark it acked soon. `outbox`: its key may be in reply_outbox (a parked record's). */
  acked(key: LedgerKey, outbox?: boolean): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createPublisher(o: {
  producer: BatchingProducer;
  topics: TopicNames;
  ledger: Ledger;
  metrics: Metrics;
  logger: Logger;
  ackIntervalMs?: number;
}): Publisher {
  const log = o.logger.child({ module: 'publisher' });
  let pendingAcks: (LedgerKey & { outbox: boolean })[] = [];
  let flushing: Promise<void> = Promise.resolve();

  const flushNow = async () => {
    const keys = pendingAcks;
    pendingAcks = [];
    if (keys.length === 0) return;
    try {
      await o.ledger.markAcked(keys);
    } catch (err) {
      // Not fatal: a row left at sent only makes a redelivery publish its reply once more.
      log.warn({ err, rows: keys.length }, 'could not mark ledger rows acked');
    }
  };
  const flush = () => {
    flushing = flushing.then(flushNow);
    return flushing;
  };
  const timer = setInterval(() => void flush(), o.ackIntervalMs ?? 200);
  timer.unref();

  return {
    async reply(reply) {
      const value = encodeReply(reply);
      // Kept until Kafka takes it (a repeat after an unclear failure is harmless: same reply, same key).
      for (let attempt = 1; ; attempt++) {
        try {
          await o.producer.send(o.topics.replies, {
            key: reply.deviceKey,
            value,
            headers: { [SCHEMA_HEADER]: REPLY_SCHEMA_FINGERPRINT },
          });
          break;
        } catch (err) {
          if (attempt >= 20) throw err;
          log.warn({ err, attempt, requestId: reply.requestId }, 'reply not acknowledged by Kafka: retrying');
          await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
        }
      }
      o.metrics.records.inc({ outcome: reply.outcome, partner: reply.partner });
    },
    async deadLetter(letter) {
      await o.producer.send(o.topics.dlq, {
        key: letter.deviceKey,
        value: encodeDeadLetter(letter),
        headers: { [SCHEMA_HEADER]: DLQ_SCHEMA_FINGERPRINT },
      });
      o.metrics.dlq.inc({ reason: letter.reason, partner: letter.partner ?? 'none' });
    },
    acked(key, outbox = false) {
      pendingAcks.push({ appId: key.appId, partner: key.partner, idemKey: key.idemKey, outbox });
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
