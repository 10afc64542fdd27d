/**
 * Environment configuration: one zod schema per service, parsed once at start by `loadConfig`.
 * A bad value stops the process with a message naming the variable. Booleans are strict:
 * only "true"/"1" and "false"/"0" are accepted, so "false" is false.
 */
import { z } from 'zod';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** A strict boolean from an environment string. */
export const envBool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'], {
      message: 'must be true, false, 1 or 0',
    })
    .optional()
    .transform((v) => (v === undefined ? fallback : v === 'true' || v === '1'));

/** An integer from an environment string, within bounds. */
export const envInt = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^-?\d+$/, 'must be an integer')
    .optional()
    .transform((v) => (v === undefined ? fallback : Number(v)))
    .pipe(z.number().int().min(min).max(max));

/** A comma-separated list of host:port pairs. */
export const envHostList = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((v) =>
      (v ?? fallback)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'each entry must be host:port')).min(1));

/** A secret string: never printed by `describeConfig`. */
export const envSecret = () => z.string().min(1).optional();

/**
 * Parses `env` with `schema`. Every failing variable is listed, by name, with its reason.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
}

const SECRET_KEY = /(key|secret|password|token)/i;

/** A copy of a config object fit for a log line: values of secret-looking keys are replaced. */
export function describeConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    if (SECRET_KEY.test(k) && v !== undefined) out[k] = '[redacted]';
    else if (k === 'databaseUrl' && typeof v === 'string') out[k] = v.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:[redacted]@');
    else out[k] = v;
  }
  return out;
}

/** Variables every service shares. */
export const commonEnv = {
  /** Kafka bootstrap servers, comma-separated host:port. */
  KAFKA_BROKERS: envHostList('127.0.0.1:9092'),
  /** Prefix for every topic name (tests use one per run so runs never collide). */
  TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, . _ - only')
    .default(''),
  /** Postgres connection string. */
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/test'),
  /** Postgres schema holding the relay's tables (tests use one per run). */
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case SQL identifier')
    .default('public'),
  /** pino level. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
} as const;
