import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema, waitFor } from '../../../test/support/index.js';
import { createPool, withTransaction } from './db.js';

describe('Postgres pool (real server)', () => {
  let db: TestSchema;
  beforeAll(async () => {
    db = await createTestSchema();
  });
  afterAll(async () => db?.cleanup());

  it('survives its connection being cut in the middle of a transaction, and serves the next one', async () => {
    const pool = createPool({ databaseUrl: db.databaseUrl, schema: db.schema, max: 2, applicationName: 's2s-cut-test' });
    const failed = withTransaction(pool, async (client) => {
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // Another session terminates this backend between two statements (as an operator or a failover
      // would); the client learns it while checked out and idle, which used to crash the process.
      await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
      const socket = (client as unknown as { connection: { stream: { destroyed: boolean } } }).connection.stream;
      await waitFor(() => socket.destroyed, { what: 'the client to see its connection closed' });
      await client.query('SELECT 1');
    });
    await expect(failed).rejects.toThrow();
    // The broken connection was not handed back: the next transaction works.
    expect(await withTransaction(pool, async (c) => (await c.query<{ n: number }>('SELECT 2 AS n')).rows[0]?.n)).toBe(2);
    await pool.end();
  });
});
