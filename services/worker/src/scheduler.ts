/**
 * The parked-lane scheduler (and the reply sweeper). Every SCHEDULER_INTERVAL_MS each worker asks Postgres for the lanes of
 * the partitions it owns that are due (next attempt reached, or an event that waited too long for
 * its session) and queues a drain in the lane. Ownership follows the consumer group, so after a
 * rebalance the new owner of a device's partition picks its parked lanes up.
 */
import type { Logger } from '@s2s/logging';
import type { Ledger, Parking } from '@s2s/store';
import type { Metrics } from './metrics.js';
import type { Pipeline } from './pipeline.js';
import type { Publisher } from './publisher.js';

export interface Scheduler {
  /** One pass now (tests, and the timer). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export function startScheduler(o: {
  parking: Parking;
  pipeline: Pipeline;
  ownedPartitions: () => number[];
  intervalMs: number;
  noSessionTimeoutMs: number;
  metrics: Metrics;
  logger: Logger;
  /** Republishes replies of rows left at `sent` (a crash between the answer and the reply). */
  sweep?: { ledger: Ledger; publisher: Publisher; olderThanMs: number };
}): Scheduler {
  const log = o.logger.child({ module: 'scheduler' });
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let lastSweep = 0;

  const pass = async () => {
    const owned = o.ownedPartitions();
    const due = await o.parking.dueLanes(owned, o.noSessionTimeoutMs);
    for (const lane of due) o.pipeline.drain(lane);
    if (o.sweep && Date.now() - lastSweep > o.sweep.olderThanMs / 2) {
      lastSweep = Date.now();
      const stale = await o.sweep.ledger.staleSent(o.sweep.olderThanMs);
      for (const { key, reply } of stale) {
        await o.sweep.publisher.reply(reply);
        o.sweep.publisher.acked(key);
      }
      if (stale.length > 0) log.info({ replies: stale.length }, 'republished replies left unconfirmed');
    }
    const counts = await o.parking.counts();
    o.metrics.parkedLanes.set(counts.parkedLanes);
    o.metrics.parkedRecords.set(counts.parkedRecords);
  };
  const tick = () => {
    running = running.then(pass).catch((err) => log.warn({ err }, 'scheduler pass failed'));
    return running;
  };
  const timer = setInterval(() => {
    if (!stopped) void tick();
  }, o.intervalMs);
  timer.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
