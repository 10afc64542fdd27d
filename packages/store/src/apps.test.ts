import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from '../../../test/support/index.js';
import { createAppsRepo, hashApiKey } from './apps.js';
import { createOutcomesRepo } from './outcomes.js';

describe('apps and keys (real Postgres)', () => {
  let db: TestSchema;
  beforeAll(async () => {
    db = await createTestSchema();
  });
  afterAll(async () => db?.cleanup());

  it('stores only the hash of an API key and authenticates with the key', async () => {
    const apps = createAppsRepo(db.pool);
    const { apiKey, app } = await apps.upsert({
      id: 'acme',
      singularSdkKey: 'sdk',
      oathDataProviderId: 'dp',
      oathHmacKey: 'hk',
      onsideEnabled: true,
    });
    expect(app).toMatchObject({
      id: 'acme',
      status: 'active',
      singular: { sdkKey: 'sdk' },
      oath: { dataProviderId: 'dp', hmacKey: 'hk' },
      onside: { enabled: true },
    });
    const stored = await db.pool.query('SELECT key_hash FROM api_keys');
    expect(stored.rows).toEqual([{ key_hash: hashApiKey(apiKey) }]);
    expect(JSON.stringify(stored.rows)).not.toContain(apiKey);
    expect((await apps.authenticate(apiKey))?.id).toBe('acme');
    expect(await apps.authenticate(`${apiKey}x`)).toBeUndefined();
  });

  it('rotates keys: both work until the old one is revoked', async () => {
    const apps = createAppsRepo(db.pool);
    const { apiKey: oldKey } = await apps.upsert({ id: 'rot' });
    const newKey = await apps.addKey('rot');
    expect((await apps.authenticate(oldKey))?.id).toBe('rot');
    expect((await apps.authenticate(newKey))?.id).toBe('rot');
    expect(await apps.revokeKey('rot', oldKey.slice(0, 10))).toBe(1);
    expect(await apps.authenticate(oldKey)).toBeUndefined();
    expect((await apps.authenticate(newKey))?.id).toBe('rot');
    const listed = (await apps.list()).find((a) => a.id === 'rot');
    expect(listed?.keys.map((k) => k.revokedAt === null)).toEqual([false, true]);
  });

  it('never lets a parked outcome overwrite a final one', async () => {
    const outcomes = createOutcomesRepo(db.pool);
    const base = {
      requestId: '0190a0b0-0000-7000-8000-000000000001',
      appId: 'acme',
      deviceKey: 'd',
      partner: 'singular' as const,
      atMs: 1,
      inDoubt: false,
    };
    await outcomes.record({ ...base, outcome: 'parked', reason: 'partner_unavailable' });
    await outcomes.record({ ...base, outcome: 'forwarded', singular: { deferredDeeplink: 'app://x', extra: {} } });
    await outcomes.record({ ...base, outcome: 'parked', reason: 'late duplicate' });
    const rows = await outcomes.forRequest(base.requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: 'forwarded', reply: { singular: { deferredDeeplink: 'app://x' } } });
  });
});
