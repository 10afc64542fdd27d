import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from '../../../test/support/index.js';
import { withTransaction } from './db.js';
import { lockDevicesSql } from './privacy.js';

describe('device locks (real Postgres)', () => {
  let db: TestSchema;
  beforeAll(async () => {
    db = await createTestSchema();
  });
  afterAll(async () => db?.cleanup());

  it('takes each device’s advisory lock with the BEGIN, for any app id and device key', async () => {
    // Quotes and backslashes travel as escaped literals and lock the same key as a bound parameter.
    const devices = [
      { appId: "o'brien\\app", deviceKey: 'd1' },
      { appId: 'plain', deviceKey: 'k\'\\"ey' },
      { appId: 'plain', deviceKey: 'k\'\\"ey' },
    ];
    const locks = lockDevicesSql(devices, 'shared') as string;
    const held = await withTransaction(
      db.pool,
      async (client) => {
        const { rows } = await client.query<{ mode: string; key: string }>(
          `SELECT mode, ((classid::bigint << 32) | objid::bigint)::text AS key FROM pg_locks
           WHERE locktype = 'advisory' AND pid = pg_backend_pid() ORDER BY key`,
        );
        return rows;
      },
      { begin: `BEGIN; ${locks}` },
    );
    const { rows: expected } = await db.pool.query<{ key: string }>(
      `SELECT DISTINCT hashtextextended(d, hashtext(a))::text AS key FROM unnest($1::text[], $2::text[]) AS t(a, d)`,
      [devices.map((d) => d.appId), devices.map((d) => d.deviceKey)],
    );
    expect(held.map((r) => r.mode)).toEqual(['ShareLock', 'ShareLock']);
    const unsigned = (k: string) => BigInt.asUintN(64, BigInt(k)).toString();
    expect(held.map((r) => unsigned(r.key)).sort()).toEqual(expected.map((r) => unsigned(r.key)).sort());
    expect(lockDevicesSql([], 'exclusive')).toBeUndefined();
  });
});
