/**
 * The gateway's environment, parsed once at start by `loadGatewayConfig(env)`; tests pass an object.
 * A bad value stops the process with a message naming the variable.
 */
import { commonEnv, envInt, envSecret, loadConfig } from '@s2s/config';
import { z } from 'zod';

/** A base URL, or `off` to leave the corresponding /ops proxy out. */
const upstream = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((v) => (v === 'off' ? undefined : v))
    .pipe(z.string().url('must be a URL or off').optional());

export const GatewayConfig = z.object({
  ...commonEnv,
  /** TCP port to listen on. */
  PORT: envInt(8080, 0, 65_535),
  /** Interface to bind; 127.0.0.1 keeps the gateway off the network (a load balancer fronts it in production). */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** Largest request body accepted, bytes (413 beyond). iOS install receipts alone can reach 64 KiB. */
  BODY_LIMIT_BYTES: envInt(256 * 1024, 1024, 16 * 1024 * 1024),
  /** Most records in one POST /v1/batch. */
  BATCH_MAX_RECORDS: envInt(500, 1, 10_000),
  /** Requests per second allowed per app on the intake routes, per gateway instance (429 beyond). */
  RATE_LIMIT_PER_SECOND: envInt(5000, 1),
  /** How long an API key's authentication result is reused, ms: a disabled app or revoked key stops within this. */
  AUTH_CACHE_TTL_MS: envInt(5000, 0, 60_000),
  /** Most API keys whose authentication result is cached (least recently used go first). */
  AUTH_CACHE_MAX: envInt(10_000, 1),
  /** Upper bound of `Prefer: wait=N`, seconds; a larger N is cut to this (and said so in Preference-Applied). */
  MAX_WAIT_SECONDS: envInt(30, 0, 300),
  /** Give up on a Kafka acknowledgement after this long, ms, and answer 503. */
  PRODUCE_TIMEOUT_MS: envInt(10_000, 100, 120_000),
  /** Seconds a client is told to wait (Retry-After) after a 503 (Kafka or Postgres unavailable). */
  RETRY_AFTER_SECONDS: envInt(5, 1, 3600),
  /** Partitions of s2s.ingest when the gateway creates it (the upper bound on worker parallelism). */
  INGEST_PARTITIONS: envInt(12, 1, 10_000),
  /** Replication factor of the topics the gateway creates (3 on a real cluster). */
  REPLICATION_FACTOR: envInt(1, 1, 10),
  /** Postgres connections of this instance (intake claims are batched, so few are needed). */
  DATABASE_POOL_SIZE: envInt(10, 1, 200),
  /** Key of the /ops surface (header X-Admin-Key); without it /ops is not served at all. */
  ADMIN_KEY: envSecret(),
  /** Partner sandbox, proxied at /ops/sandbox/* → /_sandbox/* (`off` to leave out). */
  SANDBOX_URL: upstream('http://127.0.0.1:4010'),
  /** A worker's ops port, proxied at /ops/workers/* (`off` to leave out). */
  WORKER_OPS_URL: upstream('http://127.0.0.1:9464'),
});
export type GatewayConfig = z.output<typeof GatewayConfig>;

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfig(GatewayConfig, env);
}
