/**
 * A feed of every partner reply published on `s2s.replies`, for processes that must see all of them
 * (each gateway instance holds its own waiting clients). It joins a consumer group of its own (a
 * random id: every instance gets every partition), starts at the end of each partition, and never
 * commits offsets: a reply is only useful to a client waiting right now; later, the outcome is read
 * from Postgres. A message that does not decode is logged and skipped.
 */
import { randomUUID } from 'node:crypto';
import { decodeReply, type ReplyMessage, SCHEMA_HEADER } from '@s2s/contracts';
import type { Logger } from '@s2s/logging';
import type { Consumer, Kafka } from 'kafkajs';

export interface ReplyFeed {
  /** Resolves once positioned: every reply published after that is delivered. */
  start(): Promise<void>;
  /** Adds a listener; returns the function that removes it. */
  onReply(listener: (reply: ReplyMessage) => void): () => void;
  /** True between a successful `start` and `stop` (and while the consumer has not crashed for good). */
  ready(): boolean;
  stop(): Promise<void>;
}

export interface ReplyFeedOptions {
  topic: string;
  /** Defaults to `gateway-replies-<random>`. */
  groupId?: string;
  logger?: Logger;
}

export function createReplyFeed(kafka: Kafka, { topic, groupId, logger }: ReplyFeedOptions): ReplyFeed {
  const log = logger?.child({ module: 'reply-feed' });
  const listeners = new Set<(reply: ReplyMessage) => void>();
  let consumer: Consumer | undefined;
  let running = false;

  const deliver = (value: Buffer | null, fingerprint: string | undefined) => {
    if (!value) return;
    let reply: ReplyMessage;
    try {
      reply = decodeReply(value, fingerprint);
    } catch (err) {
      log?.warn({ err, topic }, 'skipping a reply that does not decode');
      return;
    }
    for (const listener of listeners) listener(reply);
  };

  return {
    async start() {
      // The end of every partition before joining: seeking there (instead of relying on "latest" at
      // the first fetch) makes "published after start resolved" a guarantee, not a race.
      const admin = kafka.admin();
      await admin.connect();
      let ends: { partition: number; offset: string }[];
      try {
        ends = await admin.fetchTopicOffsets(topic);
      } finally {
        await admin.disconnect();
      }
      const c = kafka.consumer({
        groupId: groupId ?? `gateway-replies-${randomUUID()}`,
        maxWaitTimeInMs: 100,
        allowAutoTopicCreation: false,
      });
      consumer = c;
      // The seek goes in on the first join, not after `run` returns: when the first join fails (a
      // coordinator still loading on a fresh broker), kafkajs drops its group and restarts it later,
      // and a seek issued in between would be refused.
      let positioned = false;
      const joined = new Promise<void>((resolve, reject) => {
        c.on(c.events.GROUP_JOIN, () => {
          if (!positioned) {
            positioned = true;
            for (const { partition, offset } of ends) c.seek({ topic, partition, offset });
          }
          running = true;
          resolve();
        });
        c.on(c.events.CRASH, (e) => {
          running = false;
          if (e.payload.restart) log?.warn({ err: e.payload.error }, 'reply consumer crashed; kafkajs restarts it');
          else reject(e.payload.error);
        });
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: false });
      await c.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          const header = message.headers?.[SCHEMA_HEADER];
          deliver(message.value, header === undefined ? undefined : String(header));
        },
      });
      await joined;
    },
    onReply(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready: () => running,
    async stop() {
      running = false;
      await consumer?.disconnect();
    },
  };
}
