/**
 * Worker settings that make cross-service tests quick: short partner timeout, retries, parking and
 * scheduler intervals, a 6 s Kafka session. Suites add what is theirs (lease margin, pool size...).
 */
export const FAST_WORKER_ENV = {
  PARTNER_TIMEOUT_MS: '1000',
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
