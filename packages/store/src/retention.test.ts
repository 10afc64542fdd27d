import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from '../../../test/support/index.js';
import { createConsentRepo } from './consent.js';
import { purgeExpired, RetentionError, retentionOf, uuidV7Floor } from './retention.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-22T12:00:00Z');

/** A UUID v7 made at `ms` (the time bits are all that matters for the cut-off). */
const uuidAt = (ms: number, n: number) => uuidV7Floor(ms).replace(/000000000000$/, n.toString(16).padStart(12, '0'));

describe('retention purge (real Postgres)', () => {
  let db: TestSchema;
  beforeAll(async () => {
    db = await createTestSchema();
  });
  afterAll(async () => db?.cleanup());

  async function seed(ageDays: number, n: number) {
    const at = NOW - ageDays * DAY;
    const requestId = uuidAt(at, n);
    const created = new Date(at).toISOString();
    const reply = { requestId, partner: 'singular', outcome: 'forwarded', singular: { extra: {} } };
    await db.pool.query(
      `INSERT INTO request_outcomes (request_id, partner, app_id, device_key, outcome, reply) VALUES ($1, 'singular', 'a', 'd', 'forwarded', $2)`,
      [requestId, reply],
    );
    await db.pool.query(
      `INSERT INTO intake (app_id, idempotency_key, request_id, body_hash, device_key, kind, accepted_at) VALUES ('a', $1, $2, 'h', 'd', 'event', $3)`,
      [`k${n}`, requestId, created],
    );
    for (const [partner, state] of [
      ['singular', 'acked'],
      ['oath', 'dlq'],
      ['onside', 'ready'],
    ])
      await db.pool.query(
        `INSERT INTO ledger (app_id, partner, idem_key, request_id, device_key, state, reply, created_at)
         VALUES ('a', $1, $2, $3, 'd', $4, $5, $6)`,
        [partner, `k${n}`, requestId, state, reply, created],
      );
    await db.pool.query(
      `INSERT INTO postbacks (app_id, postback_key, device_key, event_type, received_at) VALUES ('a', $1, 'd', 'event', $2)`,
      [`p${n}`, created],
    );
  }
  const count = async (sql: string) =>
    Number((await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${sql}`)).rows[0]?.n);

  it('removes only rows past retention, keeps dedupe keys longer than payloads, and counts what it did', async () => {
    await seed(1, 1); // fresh: nothing happens to it
    await seed(40, 2); // past replies, intake, payloads, dlq and postbacks; ledger keys stay (< 90 days)
    await seed(100, 3); // past everything
    const result = await purgeExpired(db.pool, { nowMs: NOW, batchSize: 1 });
    expect(result).toEqual({ replies: 2, intake: 2, ledgerPayloads: 1, dlqPayloads: 1, ledgerKeys: 2, postbacks: 2 });

    expect(await count('request_outcomes')).toBe(1);
    expect(await count('intake')).toBe(1);
    expect(await count('postbacks')).toBe(1);
    // Ledger: the fresh device's 3 rows; the 40-day rows with their payloads emptied (the unfinished
    // `ready` row keeps its own); the 100-day finished rows gone, its `ready` row kept.
    const { rows } = await db.pool.query<{ idem_key: string; state: string; has_reply: boolean }>(
      'SELECT idem_key, state, reply IS NOT NULL AS has_reply FROM ledger ORDER BY idem_key, state',
    );
    expect(rows).toEqual([
      { idem_key: 'k1', state: 'acked', has_reply: true },
      { idem_key: 'k1', state: 'dlq', has_reply: true },
      { idem_key: 'k1', state: 'ready', has_reply: true },
      { idem_key: 'k2', state: 'acked', has_reply: false },
      { idem_key: 'k2', state: 'dlq', has_reply: false },
      { idem_key: 'k2', state: 'ready', has_reply: true },
      { idem_key: 'k3', state: 'ready', has_reply: true },
    ]);
    // Again: nothing left to do.
    expect(Object.values(await purgeExpired(db.pool, { nowMs: NOW }))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('refuses retention that would let a replay resend', () => {
    expect(retentionOf()).toMatchObject({ replies: 30, ledgerKeys: 90 });
    expect(() => retentionOf({ ledgerKeys: 3 })).toThrow(RetentionError);
    expect(() => retentionOf({ intake: 6 })).toThrow(/s2s.ingest/);
    expect(() => retentionOf({ ledgerKeys: 20, dlq: 30 })).toThrow(/outlives/);
    expect(() => retentionOf({ replies: 0 })).toThrow(/whole number/);
  });

  it('keeps the newest consent of a device by device time, whatever order it arrives in', async () => {
    const consent = createConsentRepo(db.pool);
    const base = { appId: 'a', deviceKey: 'c'.repeat(32) };
    expect(await consent.consentFor(base.appId, base.deviceKey)).toBeUndefined();
    expect(await consent.recordConsent({ ...base, limitDataSharing: true, atMs: 2000 })).toBe(true);
    expect(await consent.recordConsent({ ...base, limitDataSharing: false, atMs: 1000 })).toBe(false);
    expect(await consent.consentFor(base.appId, base.deviceKey)).toMatchObject({ limitDataSharing: true, atMs: 2000 });
    expect(await consent.recordConsent({ ...base, limitDataSharing: false, atMs: 3000 })).toBe(true);
    expect((await consent.consentForMany('a', [base.deviceKey, 'x'])).get(base.deviceKey)?.limitDataSharing).toBe(false);
  });
});
