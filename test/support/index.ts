/**
 * Helpers for tests against the real broker and database. Each test gets topics, a consumer group and
 * a Postgres schema of its own, so files run side by side on one broker and one database; every helper
 * registers its own cleanup with the caller's `onTestFinished`/`afterAll`.
 */
import { randomBytes } from 'node:crypto';
import { createKafka, ensureTopics, type TopicNames, topicNames } from '@s2s/bus';
import { createPool, migrate, type Pool } from '@s2s/store';
import type { Admin, Kafka } from 'kafkajs';
import { inject } from 'vitest';
import './provided.js';

export function testBrokers(): string[] {
  return inject('kafkaBrokers').split(',');
}

export function testDatabaseUrl(): string {
  return inject('databaseUrl');
}

/** A short random id, safe in topic, group and SQL identifiers. */
export function uniqueId(label = 't'): string {
  return `${label}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export function testKafka(clientId = uniqueId('client')): Kafka {
  return createKafka({
    brokers: testBrokers(),
    clientId,
    retry: { initialRetryTime: 100, retries: 5 },
  });
}

export interface TestTopics {
  prefix: string;
  names: TopicNames;
  admin: Admin;
  cleanup(): Promise<void>;
}

/** Creates the relay's three topics under a fresh prefix; `cleanup` deletes them. */
export async function createTestTopics(kafka: Kafka = testKafka(), ingestPartitions = 12): Promise<TestTopics> {
  const prefix = `${uniqueId('t')}.`;
  const names = topicNames(prefix);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, names, { ingestPartitions, replicationFactor: 1 });
  return {
    prefix,
    names,
    admin,
    async cleanup() {
      await admin.deleteTopics({ topics: Object.values(names) }).catch(() => {});
      await admin.disconnect();
    },
  };
}

export interface TestSchema {
  schema: string;
  pool: Pool;
  databaseUrl: string;
  cleanup(): Promise<void>;
}

/** The rows of one device in a table keyed by (app_id, device_key). */
export async function deviceRowCount(pool: Pool, table: string, appId: string, deviceKey: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE app_id = $1 AND device_key = $2`, [
    appId,
    deviceKey,
  ]);
  return Number(rows[0]?.n);
}

/** Statements waiting for a row lock (another transaction holds the row), across the database. */
export async function rowLockWaiters(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_locks WHERE locktype IN ('transactionid', 'tuple') AND NOT granted`,
  );
  return Number(rows[0]?.n);
}

/** A fresh Postgres schema with every migration applied; `cleanup` drops it. */
export async function createTestSchema(): Promise<TestSchema> {
  const databaseUrl = testDatabaseUrl();
  const schema = uniqueId('s').toLowerCase();
  await migrate({ databaseUrl, schema });
  const pool = createPool({ databaseUrl, schema, max: 5 });
  return {
    schema,
    pool,
    databaseUrl,
    async cleanup() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 20_000, intervalMs = 50, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A node of `EXPLAIN (ANALYZE, FORMAT JSON)`'s plan, as far as the tests read it. */
export interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** Rows a plan read from `table`: returned plus filtered out, over every loop. */
export function rowsRead(node: PlanNode, table: string): number {
  const own =
    node['Relation Name'] === table
      ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0)) * (node['Actual Loops'] ?? 1)
      : 0;
  return own + (node.Plans ?? []).reduce((n, p) => n + rowsRead(p, table), 0);
}
