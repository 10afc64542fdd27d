import { readdirSync } from 'node:fs';
import { createPool, MIGRATIONS_DIR, migrate } from '@s2s/store';
import { afterEach, describe, expect, it } from 'vitest';
import { testDatabaseUrl, uniqueId } from '../support/index.js';

describe('Postgres migrations', () => {
  const schemas: string[] = [];
  afterEach(async () => {
    const pool = createPool({ databaseUrl: testDatabaseUrl() });
    for (const s of schemas.splice(0)) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await pool.end();
  });

  it('apply every migration to an empty schema, then are a no-op when run again', async () => {
    const schema = uniqueId('m').toLowerCase();
    schemas.push(schema);
    const files = readdirSync(MIGRATIONS_DIR)
      .filter((f) => f.endsWith('.sql'))
      .map((f) => f.replace(/\.sql$/, ''))
      .sort();
    expect(await migrate({ databaseUrl: testDatabaseUrl(), schema })).toEqual(files);
    expect(await migrate({ databaseUrl: testDatabaseUrl(), schema })).toEqual([]);

    const pool = createPool({ databaseUrl: testDatabaseUrl(), schema });
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM pgmigrations ORDER BY id');
    expect(rows.map((r) => r.name)).toEqual(files);
    const meta = await pool.query('SELECT value FROM relay_meta WHERE key = $1', ['schema_created_at']);
    expect(meta.rowCount).toBe(1);
    await pool.end();
  });

  it('are safe when several processes migrate the same schema at once', async () => {
    const schema = uniqueId('m').toLowerCase();
    schemas.push(schema);
    const runs = await Promise.all([1, 2, 3].map(() => migrate({ databaseUrl: testDatabaseUrl(), schema })));
    // The advisory lock serialises them: exactly one run applies each migration.
    const appliedCount = runs.reduce((n, r) => n + r.length, 0);
    expect(appliedCount).toBe(readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).length);
  });
});
