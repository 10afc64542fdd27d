import { newRequestId } from '@s2s/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from '../../../test/support/index.js';
import { createIntakeRepo, type IntakeClaim } from './intake.js';

const claimOf = (key: string, body = `hash-${key}`): IntakeClaim => ({
  appId: 'app',
  idempotencyKey: key,
  requestId: newRequestId(),
  bodyHash: body,
  deviceKey: `device-${key}`,
  kind: 'session',
  acceptedAtMs: 1_790_000_000_123,
});

describe('intake claims (real Postgres)', () => {
  let db: TestSchema;
  beforeAll(async () => {
    db = await createTestSchema();
  });
  afterAll(async () => db?.cleanup());

  it('inserts new keys, and answers a key held before or repeated in the batch with the row that holds it', async () => {
    const repo = createIntakeRepo(db.pool);
    const [a, b] = [claimOf('a'), claimOf('b')];
    expect(await repo.claim([a, b])).toEqual([
      { requestId: a.requestId, bodyHash: 'hash-a', produced: false, acceptedAtMs: 1_790_000_000_123, inserted: true },
      { requestId: b.requestId, bodyHash: 'hash-b', produced: false, acceptedAtMs: 1_790_000_000_123, inserted: true },
    ]);
    await repo.markProduced([a.requestId]);

    // c is new and repeated (another body the second time); a is held, produced; b is held, not produced.
    const [c1, again, c2, b2] = [claimOf('c'), claimOf('a', 'other'), claimOf('c', 'hash-c2'), claimOf('b')];
    const out = await repo.claim([c1, again, c2, b2]);
    expect(out.map((r) => [r.requestId, r.bodyHash, r.produced, r.inserted])).toEqual([
      [c1.requestId, 'hash-c', false, true],
      [a.requestId, 'hash-a', true, false],
      [c1.requestId, 'hash-c', false, false],
      [b.requestId, 'hash-b', false, false],
    ]);
    const { rows } = await db.pool.query('SELECT idempotency_key FROM intake ORDER BY 1');
    expect(rows.map((r) => r.idempotency_key)).toEqual(['a', 'b', 'c']);
  });

  it('gives each key to exactly one of many concurrent claims, and all of them the same request id', async () => {
    const repo = createIntakeRepo(db.pool);
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
    // Five claims at once over the same keys in different orders, on the pool's separate connections.
    const batches = Array.from({ length: 5 }, (_, n) => keys.map((_, i) => claimOf(keys[(i * (n + 1)) % keys.length] as string)));
    const results = await Promise.all(batches.map((batch) => repo.claim(batch)));
    for (const key of keys) {
      const answers = batches.flatMap((batch, n) =>
        batch.flatMap((c, i) => (c.idempotencyKey === key ? [results[n]?.[i] as (typeof results)[0][0]] : [])),
      );
      expect(answers.filter((r) => r.inserted)).toHaveLength(1);
      expect(new Set(answers.map((r) => r.requestId)).size).toBe(1);
    }
  });
});
