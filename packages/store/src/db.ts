/**
 * Postgres access: one pool per process, bound to the relay's schema through `search_path`,
 * so that the same SQL serves production (`public`) and tests (a schema per run).
 */
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface CreatePoolOptions {
  databaseUrl: string;
  schema?: string;
  max?: number;
  applicationName?: string;
}

export function createPool({
  databaseUrl,
  schema = 'public',
  max = 10,
  applicationName = 's2s-relay',
}: CreatePoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    application_name: applicationName,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
  });
  // A client losing its connection (server restart, terminated backend) must not crash the process
  // with an unhandled 'error' event: an idle one is dropped by the pool (its 'error' event), and a
  // checked-out one between two queries gets a listener here, so its next query fails instead.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

/**
 * Runs `fn` in a transaction on one connection; rolls back on any error and rethrows it. `begin` replaces the plain `BEGIN`: a simple query
 * (no parameters; see the literal helpers below) that starts the transaction and runs its first
 * statements in the same round trip, each on its own snapshot; `fn` gets their results, in order.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, begun: pg.QueryResult[]) => Promise<T>,
  { begin = 'BEGIN' }: { begin?: string } = {},
): Promise<T> {
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    // pg returns one result for one statement, an array for several.
    const begun = (await client.query(begin)) as pg.QueryResult | pg.QueryResult[];
    const result = await fn(client, Array.isArray(begun) ? begun : [begun]);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    failure = err instanceof Error ? err : new Error(String(err));
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    // After a failure the connection may be broken: destroy it rather than hand it to the next caller.
    client.release(failure);
  }
}

/** A text[] literal of escaped values, for statements that travel in a simple query. */
export function textArrayLiteral(values: readonly string[]): string {
  return `ARRAY[${values.map((v) => pg.escapeLiteral(v)).join(',')}]::text[]`;
}

/** A bigint[] literal; only safe integers are taken. */
export function bigintArrayLiteral(values: readonly number[]): string {
  for (const v of values) if (!Number.isSafeInteger(v)) throw new Error(`not an integer for a bigint literal: ${v}`);
  return `ARRAY[${values.join(',')}]::bigint[]`;
}
