/**
 * What every command gets: the environment (parsed once, on first use), where to print, and a
 * Postgres pool opened lazily, after the migrations have run (so `apps add` works on a fresh database
 * before any service has started). Tests pass their own env and output.
 */
import { commonEnv, loadConfig } from '@s2s/config';
import { createPool, migrate, type Pool } from '@s2s/store';
import { z } from 'zod';

export const CliConfig = z.object({
  /** Postgres connection string. */
  DATABASE_URL: commonEnv.DATABASE_URL,
  /** Postgres schema holding the relay's tables. */
  DATABASE_SCHEMA: commonEnv.DATABASE_SCHEMA,
});
export type CliConfig = z.output<typeof CliConfig>;

export interface CliContext {
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
  pool(): Promise<Pool>;
  close(): Promise<void>;
}

export interface ContextOptions {
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

export function createContext({
  env = process.env,
  out = (l) => process.stdout.write(`${l}\n`),
  err = (l) => process.stderr.write(`${l}\n`),
}: ContextOptions = {}): CliContext {
  let pool: Promise<Pool> | undefined;
  return {
    env,
    out,
    err,
    pool() {
      pool ??= (async () => {
        const config = loadConfig(CliConfig, env);
        await migrate({ databaseUrl: config.DATABASE_URL, schema: config.DATABASE_SCHEMA });
        return createPool({
          databaseUrl: config.DATABASE_URL,
          schema: config.DATABASE_SCHEMA,
          max: 2,
          applicationName: 's2s-cli',
        });
      })();
      return pool;
    },
    async close() {
      if (pool) await (await pool).end();
    },
  };
}

/** An error a command reports as one line on stderr, with exit code 1 (no stack trace). */
export class CliError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}
