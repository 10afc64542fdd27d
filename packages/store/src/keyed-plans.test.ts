import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type PlanNode, rowsRead, type TestSchema } from '../../../test/support/index.js';
import { bigintArrayLiteral, createPool, KEYED_PLANS, type Pool, textArrayLiteral } from './db.js';
import { createWorkerBatches } from './worker-batch.js';

const APP = 'app-keyed';

let db: TestSchema;
beforeAll(async () => {
  db = await createTestSchema();
});
afterAll(async () => db?.cleanup());

describe('the hot path as named statements on a KEYED_PLANS pool (real Postgres)', () => {
  it('keeps reading only the batch rows after the ledger grows from empty to 20,000 rows', async () => {
    // One connection: the named statement and its cached plan live on it.
    const pool: Pool = createPool({ databaseUrl: db.databaseUrl, schema: db.schema, max: 1, settings: KEYED_PLANS });
    try {
      const batches = createWorkerBatches(pool);
      const claims = (from: number) =>
        Array.from({ length: 10 }, (_, i) => ({
          appId: APP,
          partner: 'singular' as const,
          idemKey: `k-${from + i}`,
          owner: 'w1',
          deviceKey: `d-${(from + i) % 50}`,
          receivedAtMs: Date.now(),
        }));
      // Enough executions on the empty table for Postgres to settle on a generic plan, as a worker
      // does in a deployment's first seconds.
      for (let n = 0; n < 10; n++) await batches.claimReady(claims(1_000_000 + n * 10), 15_000);

      await pool.query(
        `INSERT INTO ledger (app_id, partner, idem_key, request_id, device_key, state)
         SELECT $1, 'singular', 'k-' || g, ('0193a000-0000-7000-8000-' || lpad(g::text, 12, '0'))::uuid, 'd-' || (g % 50), 'ready'
         FROM generate_series(1, 20000) AS g`,
        [APP],
      );
      const batch = claims(100);
      await pool.query('BEGIN');
      const { rows } = await pool.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
        // EXECUTE takes its arguments as SQL (a utility statement has no parameters of its own).
        `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE s2s_worker_claim(${[
          textArrayLiteral(batch.map((c) => c.appId)),
          textArrayLiteral(batch.map((c) => c.partner)),
          textArrayLiteral(batch.map((c) => c.idemKey)),
          textArrayLiteral(batch.map((c) => c.owner)),
          '15000',
          textArrayLiteral(batch.map((c) => c.deviceKey)),
          bigintArrayLiteral(batch.map((c) => c.receivedAtMs)),
        ].join(', ')})`,
      );
      await pool.query('ROLLBACK');
      const plan = (rows[0]?.['QUERY PLAN'][0] as { Plan: PlanNode }).Plan;
      // The ten keys of the batch (one look-up each), not the 20,000 rows of a sequential scan.
      expect(rowsRead(plan, 'ledger')).toBeLessThanOrEqual(20);
      expect(rowsRead(plan, 'ledger')).toBeGreaterThanOrEqual(10);
    } finally {
      await pool.end();
    }
  });
});
