/**
 * Worker settings that make cross-service tests quick: short retries, parking and scheduler
 * intervals, a 6 s Kafka session. The partner timeout stays at 3 s: with the suite's files running
 * in parallel on two cores, a sandbox answer can take over a second, and a call that times out is a
 * (counted) in-doubt call, not the clean run a test expects. Suites add what is theirs (lease
 * margin, pool size...).
 */
export const FAST_WORKER_ENV = {
  PARTNER_TIMEOUT_MS: '3000',
  NO_SESSION_TIMEOUT_S: '600',
  RETRY_ATTEMPTS: '2',
  RETRY_BASE_MS: '20',
  RETRY_MAX_MS: '100',
  PARK_BASE_MS: '300',
  PARK_MAX_MS: '1000',
  SCHEDULER_INTERVAL_MS: '100',
  COMMIT_INTERVAL_MS: '100',
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  STALL_TIMEOUT_MS: '60000',
} as const;
