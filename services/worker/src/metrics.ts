/**
 * The worker's Prometheus metrics, on a registry of its own (tests run several workers in one
 * process). Served on the ops port at /metrics.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export function createMetrics(workerId: string, { defaults = false } = {}) {
  const registry = new Registry();
  registry.setDefaultLabels({ worker: workerId });
  if (defaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    /** Records of s2s.ingest not yet committed, per partition (high watermark − committed watermark). */
    consumerLag: new Gauge({
      name: 's2s_worker_consumer_lag',
      help: 'Records not yet committed per partition',
      labelNames: ['partition'],
      registers,
    }),
    /** Final and interim outcomes published, per partner. */
    records: new Counter({
      name: 's2s_worker_records_total',
      help: 'Outcomes published to s2s.replies by outcome and partner',
      labelNames: ['outcome', 'partner'],
      registers,
    }),
    partnerLatency: new Histogram({
      name: 's2s_worker_partner_latency_seconds',
      help: 'Partner call latency (successful and failed calls)',
      labelNames: ['partner', 'result'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    parkedLanes: new Gauge({ name: 's2s_worker_parked_lanes', help: 'Lanes parked after failing (all workers)', registers }),
    parkedRecords: new Gauge({
      name: 's2s_worker_parked_records',
      help: 'Records waiting durably in lanes (all workers)',
      registers,
    }),
    dlq: new Counter({
      name: 's2s_worker_dlq_total',
      help: 'Records sent to s2s.dlq by reason and partner',
      labelNames: ['reason', 'partner'],
      registers,
    }),
    inDoubt: new Counter({
      name: 's2s_worker_in_doubt_total',
      help: 'Partner calls left in doubt, by partner and how they were resolved (hold or resend)',
      labelNames: ['partner', 'resolution'],
      registers,
    }),
    retries: new Counter({
      name: 's2s_worker_partner_retries_total',
      help: 'In-lane retries of retryable partner failures',
      labelNames: ['partner'],
      registers,
    }),
    dbBatchSize: new Histogram({
      name: 's2s_worker_db_batch_size',
      help: 'Records per group-committed Postgres batch',
      labelNames: ['kind'],
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    }),
    dbBatchSeconds: new Histogram({
      name: 's2s_worker_db_batch_seconds',
      help: 'Duration of group-committed Postgres batches',
      labelNames: ['kind'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    /** Rows the retention purge deleted or emptied, by kind (retention.ts `PurgeResult`). */
    purgedRows: new Counter({
      name: 's2s_worker_purged_rows_total',
      help: 'Rows deleted or emptied by the retention purge, by kind',
      labelNames: ['kind'],
      registers,
    }),
    duplicates: new Counter({
      name: 's2s_worker_duplicates_total',
      help: 'Records suppressed by the ledger (client retries, redeliveries, replays)',
      labelNames: ['partner'],
      registers,
    }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
