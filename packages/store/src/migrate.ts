/**
 * Schema migrations with node-pg-migrate, from the SQL files in ../migrations (applied in file-name
 * order, each once, under an advisory lock so that several processes starting together are safe).
 * Services run this at start; tests run it into a schema of their own.
 */
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

export interface MigrateOptions {
  databaseUrl: string;
  schema?: string;
  /** Receives one line per applied migration. */
  log?: (line: string) => void;
}

/** Applies every pending migration; returns the names applied (empty when up to date). */
export async function migrate({ databaseUrl, schema = 'public', log = () => {} }: MigrateOptions): Promise<string[]> {
  // node-pg-migrate's own lock fails at once when another process holds it ("Another migration is
  // already running"); services starting together must wait instead, so take a blocking advisory
  // lock per schema on the same connection the runner uses.
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 's2s-relay-migrate',
  });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`s2s-relay-migrate:${schema}`]);
    return await runMigrations(client, schema, log);
  } finally {
    await client.end().catch(() => {});
  }
}

async function runMigrations(dbClient: pg.Client, schema: string, log: (line: string) => void): Promise<string[]> {
  const applied = await runner({
    dbClient,
    noLock: true,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    schema,
    createSchema: true,
    checkOrder: true,
    singleTransaction: true,
    verbose: false,
    log: () => {},
    logger: {
      debug: () => {},
      info: () => {},
      warn: (m: string) => log(m),
      error: (m: string) => log(m),
    },
  });
  for (const m of applied) log(`migrated ${schema}: ${m.name}`);
  return applied.map((m) => m.name);
}
