/**
 * The worker's environment, parsed once at start (`loadWorkerConfig`). Times are in the unit the
 * name says. Every variable has a production default; tests shorten the timers.
 */
import { hostname } from 'node:os';
import { commonEnv, envInt, loadConfig } from '@s2s/config';
import { DEFAULT_RETENTION_DAYS, type RetentionDays, RetentionError, retentionOf } from '@s2s/store';
import { z } from 'zod';

const url = (fallback: string) => z.string().url('must be an http(s) URL').default(fallback);

export const WorkerEnv = z
  .object({
    ...commonEnv,
    /** This process's name in logs, leases and metrics; unique per running worker. */
    WORKER_ID: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, . _ - (max 64)')
      .default(`${hostname()}-${process.pid}`),
    /** Kafka consumer group shared by all workers. */
    WORKER_GROUP_ID: z.string().min(1).default('s2s-workers'),
    /** Port of the ops HTTP server (/metrics, /healthz); 0 picks a free port. */
    OPS_PORT: envInt(9464, 0, 65535),
    /** Interface the ops server listens on. */
    OPS_HOST: z.string().min(1).default('0.0.0.0'),
    /** Partner base URLs: the sandbox by default, production one variable away. */
    SINGULAR_BASE_URL: url('http://127.0.0.1:4010/singular'),
    OATH_BASE_URL: url('http://127.0.0.1:4010/oath'),
    ONSIDE_BASE_URL: url('http://127.0.0.1:4010/onside'),
    /** Expected `iss` of Onside's JWS. */
    ONSIDE_ISSUER: z.string().min(1).default('https://onside.io'),
    /** Deadline of one partner call (S16). The lease on a pending ledger row is this plus LEASE_MARGIN_MS. */
    PARTNER_TIMEOUT_MS: envInt(10_000, 100, 120_000),
    /** Extra lease time beyond the partner timeout (answer handling, ledger write, clock slack). */
    LEASE_MARGIN_MS: envInt(5_000, 100, 120_000),
    /** A session this close (seconds) to the device's last activity is not sent again, unless it carries openUri. */
    SESSION_TIMEOUT_S: envInt(60, 0, 86_400),
    /** Events parked for a first session go to the DLQ (`no_session`) after this long (seconds). */
    NO_SESSION_TIMEOUT_S: envInt(86_400, 1, 30 * 86_400),
    /** Records older than this (seconds since the gateway accepted them) go to the DLQ (`too_old`). */
    MAX_RECORD_AGE_S: envInt(7 * 86_400, 1, 30 * 86_400),
    /** In-lane retries of a retryable failure before the lane is parked. */
    RETRY_ATTEMPTS: envInt(3, 0, 20),
    /** First in-lane retry delay, ms (doubles each time, full jitter, capped by RETRY_MAX_MS). */
    RETRY_BASE_MS: envInt(500, 1, 60_000),
    RETRY_MAX_MS: envInt(4_000, 1, 600_000),
    /** Delay before a parked lane is first resumed, ms (doubles per attempt, capped by PARK_MAX_MS). */
    PARK_BASE_MS: envInt(5_000, 10, 3_600_000),
    PARK_MAX_MS: envInt(600_000, 10, 86_400_000),
    /** How often the scheduler looks for due parked lanes, ms. */
    SCHEDULER_INTERVAL_MS: envInt(1_000, 10, 600_000),
    /**
     * A call left in doubt (timeout or crash after the request was written): `hold` never sends it
     * again (DLQ `in_doubt`, re-drivable by an operator); `resend` sends it again (the partner may
     * see it twice). Both count it.
     */
    IN_DOUBT_POLICY: z.enum(['hold', 'resend']).default('hold'),
    /** Lanes running at once, per partner, in this worker. */
    LANE_CONCURRENCY: envInt(256, 1, 10_000),
    /** Records handed out and not finished, per partition (backpressure on fetching). */
    MAX_IN_FLIGHT_PER_PARTITION: envInt(1_000, 1, 100_000),
    /** Partitions processed concurrently by kafkajs. */
    PARTITIONS_CONCURRENCY: envInt(12, 1, 1_000),
    /** How often finished watermarks are committed, ms. */
    COMMIT_INTERVAL_MS: envInt(200, 10, 60_000),
    /** Kafka group session timeout: a worker silent this long is dropped from the group. */
    KAFKA_SESSION_TIMEOUT_MS: envInt(30_000, 1_000, 300_000),
    /** Liveness: exit non-zero when no fetch started for this long, or a record stays unfinished this long. */
    STALL_TIMEOUT_MS: envInt(120_000, 1_000, 3_600_000),
    /** Partitions of s2s.ingest created at start when missing. */
    INGEST_PARTITIONS: envInt(12, 1, 10_000),
    /** Replication factor of topics created at start. */
    REPLICATION_FACTOR: envInt(1, 1, 10),
    /** Apps (partner settings) are cached this long, ms. */
    APP_CACHE_MS: envInt(5_000, 0, 600_000),
    /** Postgres pool size; the hot-path batches have four connections of their own besides. */
    DATABASE_POOL_MAX: envInt(20, 1, 500),
    /**
     * How often the retention purge runs, seconds. One worker at a time purges (a Postgres advisory
     * lock); the first run is right after start.
     */
    RETENTION_INTERVAL_S: envInt(86_400, 1, 30 * 86_400),
    /** Days kept (see packages/store/src/retention.ts): replies (request_outcomes). */
    RETENTION_REPLIES_DAYS: envInt(DEFAULT_RETENTION_DAYS.replies, 1, 3_650),
    /** Days kept: the gateway's intake log (≥ 7, the s2s.ingest retention). */
    RETENTION_INTAKE_DAYS: envInt(DEFAULT_RETENTION_DAYS.intake, 1, 3_650),
    /** Days a forwarded record's partner answer stays on its ledger row. */
    RETENTION_LEDGER_PAYLOADS_DAYS: envInt(DEFAULT_RETENTION_DAYS.ledgerPayloads, 1, 3_650),
    /** Days a dead-lettered / in-doubt ledger row keeps its reply (≥ the s2s.dlq retention, for redrive). */
    RETENTION_DLQ_DAYS: envInt(DEFAULT_RETENTION_DAYS.dlq, 1, 3_650),
    /** Days finished ledger rows (the dedupe keys) are kept (≥ 7 and ≥ the two above). */
    RETENTION_LEDGER_KEYS_DAYS: envInt(DEFAULT_RETENTION_DAYS.ledgerKeys, 1, 3_650),
    /** Days Internal BI postback dedupe rows are kept. */
    RETENTION_POSTBACKS_DAYS: envInt(DEFAULT_RETENTION_DAYS.postbacks, 1, 3_650),
  })
  .superRefine((c, ctx) => {
    if (c.RETRY_MAX_MS < c.RETRY_BASE_MS)
      ctx.addIssue({ code: 'custom', path: ['RETRY_MAX_MS'], message: 'must not be below RETRY_BASE_MS' });
    if (c.PARK_MAX_MS < c.PARK_BASE_MS)
      ctx.addIssue({ code: 'custom', path: ['PARK_MAX_MS'], message: 'must not be below PARK_BASE_MS' });
    if (c.STALL_TIMEOUT_MS <= c.PARTNER_TIMEOUT_MS + c.LEASE_MARGIN_MS)
      ctx.addIssue({
        code: 'custom',
        path: ['STALL_TIMEOUT_MS'],
        message: 'must exceed PARTNER_TIMEOUT_MS + LEASE_MARGIN_MS (a lease wait is normal progress)',
      });
    try {
      retentionOf(retentionDaysOf(c));
    } catch (err) {
      if (!(err instanceof RetentionError)) throw err;
      ctx.addIssue({ code: 'custom', path: ['RETENTION_LEDGER_KEYS_DAYS'], message: `${err.code}: ${err.message}` });
    }
  });
export type WorkerEnv = z.output<typeof WorkerEnv>;

/** The retention settings of the RETENTION_*_DAYS variables. */
export function retentionDaysOf(c: {
  RETENTION_REPLIES_DAYS: number;
  RETENTION_INTAKE_DAYS: number;
  RETENTION_LEDGER_PAYLOADS_DAYS: number;
  RETENTION_DLQ_DAYS: number;
  RETENTION_LEDGER_KEYS_DAYS: number;
  RETENTION_POSTBACKS_DAYS: number;
}): RetentionDays {
  return {
    replies: c.RETENTION_REPLIES_DAYS,
    intake: c.RETENTION_INTAKE_DAYS,
    ledgerPayloads: c.RETENTION_LEDGER_PAYLOADS_DAYS,
    dlq: c.RETENTION_DLQ_DAYS,
    ledgerKeys: c.RETENTION_LEDGER_KEYS_DAYS,
    postbacks: c.RETENTION_POSTBACKS_DAYS,
  };
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerEnv {
  return loadConfig(WorkerEnv, env);
}
