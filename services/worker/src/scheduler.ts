/**
 * The parked-lane scheduler. Every SCHEDULER_INTERVAL_MS each worker asks Postgres for the lanes of
 * the partitions it owns that are due (next attempt reached, or an event that waited too long for
 * its session) and queues a drain in the lane. Ownership follows the consumer group, so after a
 * rebalance the new owner of a device's partition picks its parked lanes up.
 */
import type { Logger } from '@s2s/logging';
import type { Parking } from '@s2s/store';
import type { Metrics } from './metrics.js';
import type { Pipeline } from './pipeline.js';

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
}): Scheduler {
  const log = o.logger.child({ module: 'scheduler' });
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const pass = async () => {
    const owned = o.ownedPartitions();
    const due = await o.parking.dueLanes(owned, o.noSessionTimeoutMs);
    for (const lane of due) o.pipeline.drain(lane);
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
