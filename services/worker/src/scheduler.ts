/**
 * The parked-lane scheduler (and the reply sweeper). Every SCHEDULER_INTERVAL_MS each worker asks Postgres for the lanes of
 * the partitions it owns that are due (next attempt reached, or an event that waited too long for
 * its session) and queues a drain in the lane. Ownership follows the consumer group, so after a
 * rebalance the new owner of a device's partition picks its parked lanes up.
 *
 * It also runs the retention purge (`purgeExpired`) every RETENTION_INTERVAL_S, first right after
 * start, on a connection of its own and off the parked-lane passes (a purge may take a while). One
 * worker of the database purges at a time: the others find the advisory lock taken and skip.
 */
import type { Logger } from '@s2s/logging';
import { type Ledger, type Parking, type Pool, purgeExpired, type RetentionDays } from '@s2s/store';
import type { Metrics } from './metrics.js';
import type { Pipeline } from './pipeline.js';
import type { Publisher } from './publisher.js';

/** The advisory lock (hashtext of this name) that lets one worker purge at a time. */
export const PURGE_LOCK = 's2s-relay-purge';

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
  /** Republishes replies left in reply_outbox (a parked record's; a crash between the answer and the reply). */
  sweep?: { ledger: Ledger; publisher: Publisher; olderThanMs: number };
  /** The retention purge: how long to keep what, and how often to purge. */
  retention?: { pool: Pool; days: RetentionDays; intervalMs: number };
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
        o.sweep.publisher.acked(key, true);
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

  let purging: Promise<void> | undefined;
  let lastPurge = Number.NEGATIVE_INFINITY;
  const purge = async (r: NonNullable<typeof o.retention>) => {
    const client = await r.pool.connect();
    try {
      // Session-level lock on this connection: held across the purge's many short statements.
      const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext('${PURGE_LOCK}')) AS ok`);
      if (!rows[0]?.ok) return;
      try {
        const t0 = Date.now();
        const purged = await purgeExpired(client, r.days);
        for (const [kind, n] of Object.entries(purged)) o.metrics.purgedRows.inc({ kind }, n);
        log.info({ purged, ms: Date.now() - t0 }, 'retention purge done');
      } finally {
        await client.query(`SELECT pg_advisory_unlock(hashtext('${PURGE_LOCK}'))`);
      }
    } finally {
      client.release();
    }
  };
  const maybePurge = () => {
    const r = o.retention;
    if (!r || purging || Date.now() - lastPurge < r.intervalMs) return;
    lastPurge = Date.now();
    purging = purge(r)
      .catch((err) => log.warn({ err }, 'retention purge failed (next try after RETENTION_INTERVAL_S)'))
      .finally(() => {
        purging = undefined;
      });
  };

  const timer = setInterval(() => {
    if (stopped) return;
    void tick();
    maybePurge();
  }, o.intervalMs);
  timer.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all([running, purging]);
    },
  };
}
