/**
 * The whole relay for the privacy tests: the partner sandbox, a worker and a gateway (with the admin
 * key) on topics and a Postgres schema of the test's own; plus a scan of every text, jsonb and bytea
 * column of the schema for given values.
 */
import type { Pool } from '@s2s/store';
import { startTestGateway, type TestGateway } from '../../services/gateway/test/harness.js';
import { createHarness, type Harness, SANDBOX_OATH_KEY } from '../worker/support.js';

export const ADMIN_KEY = 'admin-key-privacy-test-5c1d';

export interface System {
  h: Harness;
  gw: TestGateway;
  close(): Promise<void>;
}

export async function startSystem(): Promise<System> {
  const h = await createHarness();
  const gw = await startTestGateway({
    topics: h.topics,
    schema: h.db,
    env: { ADMIN_KEY, SANDBOX_URL: 'off', WORKER_OPS_URL: 'off' },
    app: { oathHmacKey: SANDBOX_OATH_KEY, oathDataProviderId: 'acme' },
  });
  await h.startWorker();
  return {
    h,
    gw,
    async close() {
      await gw.close();
      await h.cleanup();
    },
  };
}

export interface Match {
  table: string;
  column: string;
  value: string;
}

/**
 * Every (table, column) of the schema whose text holds one of `values` (case-insensitive): text and
 * jsonb as text, bytea (Avro originals) as raw bytes. What a person would grep the database for.
 */
export async function findInClear(pool: Pool, schema: string, values: string[]): Promise<Match[]> {
  const { rows: columns } = await pool.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
     JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'
       AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'bytea')`,
    [schema],
  );
  const found: Match[] = [];
  for (const c of columns) {
    for (const value of values) {
      const expr =
        c.data_type === 'bytea'
          ? ['$1', 'lower($1)', 'upper($1)']
              .map((v) => `position(convert_to(${v}, 'UTF8') IN "${c.column_name}") > 0`)
              .join(' OR ')
          : `position(lower($1) IN lower("${c.column_name}"::text)) > 0`;
      const { rowCount } = await pool.query(`SELECT 1 FROM "${schema}"."${c.table_name}" WHERE ${expr} LIMIT 1`, [value]);
      if (rowCount) found.push({ table: c.table_name, column: c.column_name, value });
    }
  }
  return found;
}
