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
  /** Server settings for every connection of the pool (`-c name=value`), e.g. `KEYED_PLANS`. */
  settings?: Readonly<Record<string, string>>;
}

/**
 * Planner settings for a pool that runs batched key look-ups as named prepared statements (the
 * workers' hot path, worker-batch.ts). A named statement is parsed once per connection, and after
 * five executions Postgres may keep one generic plan for it; that plan is made for an unknown
 * batch (`unnest` of a parameter: 100 rows) against the table's size at that moment. On a new,
 * still small table that is a sequential scan and a hash join, which would stay in the cache while
 * the table grows (until an ANALYZE invalidates it). With these settings the only plans left are
 * index look-ups in nested loops, right for a batch of keys at any table size. Not for a pool that
 * runs anything else: a statement that must scan would be pushed to a worse plan.
 */
export const KEYED_PLANS: Readonly<Record<string, string>> = {
  enable_seqscan: 'off',
  enable_hashjoin: 'off',
  enable_mergejoin: 'off',
};

export function createPool({
  databaseUrl,
  schema = 'public',
  max = 10,
  applicationName = 's2s-relay',
  settings = {},
}: CreatePoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max,
    application_name: applicationName,
    options: [`search_path=${schema}`, ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)].map((s) => `-c ${s}`).join(' '),
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
