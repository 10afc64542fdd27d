/**
 * The ordered consumer: kafkajs behind a small interface of ours, so that the client can be swapped
 * without touching lane or partner code.
 *
 * Fetch position and commit position are decoupled. Every fetched record is handed to `handle`
 * (which returns when the record is finished) and resolved at once, so kafkajs keeps fetching; the
 * offset committed per partition is only the contiguous prefix of finished records (the
 * `PartitionWatermark`). In-flight records per partition are bounded (backpressure: the batch loop
 * waits for capacity). autoCommit is off: nothing else ever commits.
 *
 * A (re)join starts a new generation: kafkajs then fetches every partition again from its committed
 * offset, so records handed out under an older generation and not finished are delivered again; the
 * handler abandons the older generation's queued work (`assigned`) and the dedupe ledger absorbs
 * whatever was finished but not committed.
 *
 * A crash of the kafkajs consumer is not restarted here once it has joined (`restartOnFailure` →
 * false): `onCrash` listeners decide (the worker exits non-zero so that its supervisor restarts
 * it). Before the first join, a retriable error (a group coordinator still loading on a broker that
 * just started) lets kafkajs restart the consumer instead; the liveness watchdog still ends a
 * consumer that never gets going.
 */
import type { Logger } from '@s2s/logging';
import type { Consumer, Kafka } from 'kafkajs';
import { PartitionWatermark } from './watermark.js';

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | undefined;
  value: Buffer;
  headers: Record<string, string>;
  timestampMs: number;
}

export interface OrderedConsumerHandlers {
  /**
   * Takes one record; resolves when it is finished, or with `false` when it was abandoned (left for
   * the next owner: it is never counted as finished). Must not reject: a rejected record stays
   * unfinished, its partition's commit stops there and the stall watchdog takes over.
   */
  handle(record: ConsumedRecord, ctx: { generation: number }): Promise<undefined | false>;
  /** After each (re)join: the partitions now owned, under a new generation; older generations' work is stale. */
  assigned?(partitions: number[], generation: number): void;
}

export interface OrderedConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topic: string;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  rebalanceTimeoutMs?: number;
  /** Records handed out and not finished, per partition (backpressure). */
  maxInFlightPerPartition?: number;
  partitionsConsumedConcurrently?: number;
  commitIntervalMs?: number;
  maxWaitTimeMs?: number;
  logger?: Logger;
}

export interface PartitionStats {
  partition: number;
  /** Next offset to commit (first unfinished record). */
  committable: number | undefined;
  committed: number | undefined;
  inFlight: number;
  highWatermark: number | undefined;
  /** Records in the partition not yet committed (high watermark − committable). */
  lag: number | undefined;
  /** How long the oldest unfinished record has been in flight, ms. */
  oldestInFlightMs: number | undefined;
}

export interface ConsumerStats {
  joined: boolean;
  generation: number;
  /** When kafkajs last started a fetch (ms since epoch), 0 before the first. */
  lastFetchAtMs: number;
  partitions: PartitionStats[];
}

export interface OrderedConsumer {
  start(handlers: OrderedConsumerHandlers): Promise<void>;
  /**
   * Stops taking records, lets the handler wind down (`drain`: e.g. finish running work and abandon
   * queued work; default: wait for every record handed out), at most `drainMs`, commits the
   * finished prefix, leaves the group. Unfinished records go to the next owner.
   */
  stop(o?: { drain?: () => Promise<void>; drainMs?: number }): Promise<void>;
  /** Commits every owned partition's watermark now. */
  commit(): Promise<void>;
  ownedPartitions(): number[];
  stats(): ConsumerStats;
  onCrash(listener: (error: Error) => void): void;
}

export function createOrderedConsumer(o: OrderedConsumerOptions): OrderedConsumer {
  const log = o.logger?.child({ module: 'consumer' });
  const maxInFlight = o.maxInFlightPerPartition ?? 500;
  const consumer: Consumer = o.kafka.consumer({
    groupId: o.groupId,
    sessionTimeout: o.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: o.heartbeatIntervalMs ?? Math.max(500, Math.floor((o.sessionTimeoutMs ?? 30_000) / 10)),
    rebalanceTimeout: o.rebalanceTimeoutMs ?? 60_000,
    maxWaitTimeInMs: o.maxWaitTimeMs ?? 500,
    allowAutoTopicCreation: false,
    retry: { retries: 5, initialRetryTime: 200, restartOnFailure: async () => !everJoined },
  });

  let generation = 0;
  let joined = false;
  let everJoined = false;
  let rebalancing = false;
  let stopping = false;
  let lastFetchAtMs = 0;
  let owned: number[] = [];
  let marks = new Map<number, PartitionWatermark>();
  const committed = new Map<number, number>();
  const highWatermarks = new Map<number, number>();
  const crashListeners: Array<(e: Error) => void> = [];
  let commitTimer: NodeJS.Timeout | undefined;
  let committing: Promise<void> = Promise.resolve();

  const wakeAll = () => {
    for (const m of marks.values()) m.wake();
  };

  const { GROUP_JOIN, REBALANCING, CRASH, FETCH_START, STOP } = consumer.events;
  consumer.on(GROUP_JOIN, (e) => {
    generation++;
    joined = true;
    everJoined = true;
    rebalancing = false;
    owned = [...(e.payload.memberAssignment[o.topic] ?? [])].sort((a, b) => a - b);
    const old = marks;
    marks = new Map(owned.map((p) => [p, new PartitionWatermark()]));
    for (const m of old.values()) m.wake();
    committed.clear();
    log?.info({ generation, partitions: owned }, 'joined the group');
    handlers?.assigned?.(owned, generation);
  });
  consumer.on(REBALANCING, () => {
    rebalancing = true;
    wakeAll();
    log?.info({ generation }, 'group is rebalancing');
  });
  consumer.on(FETCH_START, () => {
    lastFetchAtMs = Date.now();
  });
  consumer.on(STOP, () => {
    joined = false;
  });
  consumer.on(CRASH, (e) => {
    joined = false;
    const error = e.payload.error;
    log?.error({ err: error, restart: e.payload.restart }, 'consumer crashed');
    if (!e.payload.restart) for (const l of crashListeners) l(error);
  });

  let handlers: OrderedConsumerHandlers | undefined;

  async function commitNow(): Promise<void> {
    const offsets: { topic: string; partition: number; offset: string }[] = [];
    for (const [partition, m] of marks) {
      const c = m.committable;
      if (c !== undefined && c !== committed.get(partition)) offsets.push({ topic: o.topic, partition, offset: String(c) });
    }
    if (offsets.length === 0) return;
    const gen = generation;
    try {
      await consumer.commitOffsets(offsets);
      if (gen === generation) for (const x of offsets) committed.set(x.partition, Number(x.offset));
    } catch (err) {
      // A commit during a rebalance is refused; the next generation commits its own watermark.
      log?.warn({ err, generation }, 'commit failed');
    }
  }
  const commit = () => {
    committing = committing.then(commitNow);
    return committing;
  };

  return {
    async start(h) {
      handlers = h;
      await consumer.connect();
      await consumer.subscribe({ topic: o.topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: o.partitionsConsumedConcurrently ?? 4,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const gen = generation;
          const { partition } = batch;
          const wm = marks.get(partition);
          if (!wm) return;
          highWatermarks.set(partition, Number(batch.highWatermark));
          const live = () => isRunning() && !isStale() && gen === generation && !rebalancing && !stopping;
          for (const m of batch.messages) {
            while (wm.inFlight >= maxInFlight && live()) {
              await Promise.race([wm.changed(), new Promise((r) => setTimeout(r, 1000))]);
              await heartbeat().catch(() => {});
            }
            if (!live()) break;
            const offset = Number(m.offset);
            // A refetch can repeat offsets already handed out in this generation: skip them.
            if (wm.nextOffset !== undefined && offset < wm.nextOffset) continue;
            wm.track(offset);
            const headers: Record<string, string> = {};
            for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = String(v);
            const record: ConsumedRecord = {
              topic: batch.topic,
              partition,
              offset: m.offset,
              key: m.key === null ? undefined : m.key.toString(),
              value: m.value ?? Buffer.alloc(0),
              headers,
              timestampMs: Number(m.timestamp),
            };
            h.handle(record, { generation: gen }).then(
              (done) => {
                if (done !== false) wm.finish(offset);
              },
              (err) => log?.error({ err, partition, offset }, 'record handler failed: the partition stops committing here'),
            );
            resolveOffset(m.offset);
          }
          await heartbeat().catch(() => {});
        },
      });
      commitTimer = setInterval(() => void commit(), o.commitIntervalMs ?? 200);
      commitTimer.unref();
    },

    async stop({ drain, drainMs = 10_000 } = {}) {
      if (stopping) return;
      stopping = true;
      wakeAll();
      consumer.pause([{ topic: o.topic }]);
      const deadline = Date.now() + drainMs;
      if (drain) await Promise.race([drain(), new Promise((r) => setTimeout(r, drainMs).unref())]);
      else
        while (Date.now() < deadline && [...marks.values()].some((m) => m.inFlight > 0))
          await new Promise((r) => setTimeout(r, 20));
      // Let the finishes of the last records reach their watermark before the final commit.
      await new Promise((r) => setImmediate(r));
      clearInterval(commitTimer);
      await commit();
      await consumer.disconnect();
      joined = false;
    },

    commit,
    ownedPartitions: () => (joined ? [...owned] : []),

    stats() {
      const now = Date.now();
      return {
        joined,
        generation,
        lastFetchAtMs,
        partitions: [...marks].map(([partition, m]) => {
          const hw = highWatermarks.get(partition);
          const c = m.committable ?? committed.get(partition);
          return {
            partition,
            committable: m.committable,
            committed: committed.get(partition),
            inFlight: m.inFlight,
            highWatermark: hw,
            lag: hw !== undefined && c !== undefined ? Math.max(0, hw - c) : undefined,
            oldestInFlightMs: m.oldestSince === undefined ? undefined : now - m.oldestSince,
          };
        }),
      };
    },

    onCrash(listener) {
      crashListeners.push(listener);
    },
  };
}
