import type { ReplyMessage } from '@s2s/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema, waitFor } from '../../../test/support/index.js';
import { createPool, type Pool } from './db.js';
import { createLedger, type LedgerKey, type NewLedgerRow } from './ledger.js';
import { createParking } from './parking.js';
import { createWorkerBatches, type FinishItem } from './worker-batch.js';

const APP = 'app-hot';
const requestId = (n: number) => `0193a000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const row = (n: number): NewLedgerRow => ({
  appId: APP,
  partner: 'singular',
  idemKey: `k-${n}`,
  requestId: requestId(n),
  deviceKey: `d-${n % 7}`,
  state: 'ready',
  plan: {},
});
const keyOf = (r: NewLedgerRow): LedgerKey => ({ appId: r.appId, partner: r.partner, idemKey: r.idemKey });
const reply = (r: NewLedgerRow): ReplyMessage => ({
  requestId: r.requestId,
  appId: r.appId,
  deviceKey: r.deviceKey,
  partner: r.partner,
  outcome: 'forwarded',
  atMs: Date.now(),
  inDoubt: false,
  // A reply with a deferred deep link, as a first session's.
  singular: { deferredDeeplink: `https://example.test/open?campaign=${'x'.repeat(80)}`, extra: {} },
});
const finishItem = (r: NewLedgerRow, owner: string, parkedSeq?: number): FinishItem => ({
  ...keyOf(r),
  deviceKey: r.deviceKey,
  state: 'sent',
  reply: reply(r),
  owner,
  sessionForwarded: false,
  installed: false,
  parkedSeq,
});

let db: TestSchema;
beforeAll(async () => {
  db = await createTestSchema();
});
afterAll(async () => db?.cleanup());

describe('ledger transitions (real Postgres)', () => {
  it('moves rows ready → pending → sent → acked mostly as HOT updates (no new index entries)', async () => {
    // One connection, so that one backend's statistics count every update.
    const pool: Pool = createPool({ databaseUrl: db.databaseUrl, schema: db.schema, max: 1 });
    try {
      const stats = async () => {
        // Statistics reach the shared view when the backend goes idle; force it, then read.
        await pool.query('SELECT pg_stat_force_next_flush()');
        const { rows } = await pool.query<{ upd: string; hot: string }>(
          `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'ledger'`,
          [db.schema],
        );
        return { upd: Number(rows[0]?.upd), hot: Number(rows[0]?.hot) };
      };
      const ledger = createLedger(pool);
      const wb = createWorkerBatches(pool);
      const rows = Array.from({ length: 200 }, (_, n) => row(n));
      await ledger.insert(rows);
      const counted = async (since: { upd: number; hot: number }, updates: number) => {
        const s = await waitFor(
          async () => {
            const now = await stats();
            return now.upd - since.upd >= updates && now;
          },
          { what: `${updates} updates counted` },
        );
        expect(s.upd - since.upd).toBe(updates);
        return s;
      };
      const before = await stats();

      const claimed = await wb.claimReady(
        rows.map((r) => ({ ...keyOf(r), owner: 'w1', deviceKey: r.deviceKey, receivedAtMs: Date.now() })),
        30_000,
      );
      expect(claimed.every((c) => c !== null)).toBe(true);
      // The claim does not make the row longer: fillfactor 50 leaves its new version room on the page.
      const afterClaim = await counted(before, 200);
      expect(afterClaim.hot - before.hot).toBeGreaterThanOrEqual(180);
      await wb.finish(
        rows.map((r) => finishItem(r, 'w1')),
        30_000,
      );
      await ledger.markAcked(rows.map(keyOf));
      const { rows: states } = await pool.query<{ state: string; n: string }>(
        `SELECT state, count(*) AS n FROM ledger WHERE app_id = $1 GROUP BY state`,
        [APP],
      );
      expect(states).toEqual([{ state: 'acked', n: '200' }]);

      const after = await counted(afterClaim, 400);
      // With an index on a column the transitions change (as `state` and `updated_at` were), none
      // would be HOT. The finish makes the row about four times longer (the reply), so some of its
      // new versions find no room left on their page; how many depends on how soon Postgres can
      // prune the versions before (other transactions' snapshots hold them), so the bound is loose.
      expect(after.hot - before.hot).toBeGreaterThanOrEqual(300);
    } finally {
      await pool.end();
    }
  });

  it("claims a lane's next row in the statement that finishes the one before, once, and only while it is ready", async () => {
    const ledger = createLedger(db.pool);
    const wb = createWorkerBatches(db.pool);
    const [first, next, settled] = [row(2001), row(2002), row(2003)];
    await ledger.insert([first, next, settled]);
    await db.pool.query(`INSERT INTO device_identifiers (app_id, device_key, kind, value) VALUES ($1, $2, 'oaid', 'oaid-1')`, [
      APP,
      next.deviceKey,
    ]);
    await wb.claimReady(
      [first, settled].map((r) => ({ ...keyOf(r), owner: 'w1', deviceKey: r.deviceKey, receivedAtMs: Date.now() })),
      30_000,
    );
    await wb.finish([finishItem(settled, 'w1')], 30_000);
    const claimOf = (r: NewLedgerRow, owner: string) => ({
      ...keyOf(r),
      owner,
      deviceKey: r.deviceKey,
      receivedAtMs: Date.now(),
    });
    const finishFirst = { ...finishItem(first, 'w1'), next: claimOf(next, 'w2') };
    // The settled row is not ready: no claim for it, and nothing changes on it.
    const [claimed, none] = await wb.finish(
      [finishFirst, { ...finishItem(row(2004), 'w1'), next: claimOf(settled, 'w3') }],
      30_000,
    );

    expect(claimed).toEqual({
      plan: {},
      context: { erased: false, limitDataSharing: undefined, identifiers: { oaid: 'oaid-1' } },
    });
    expect(none).toBeNull();
    expect(await ledger.get(keyOf(first))).toMatchObject({ state: 'sent', leaseOwner: null });
    expect(await ledger.get(keyOf(next))).toMatchObject({ state: 'pending', leaseOwner: 'w2', attempts: 1 });
    expect(await ledger.get(keyOf(settled))).toMatchObject({ state: 'sent', leaseOwner: null, attempts: 1 });
    // The same statement again (its answer lost on the way): the claim holds, under the same owner, counted once.
    const [again] = await wb.finish([finishFirst], 30_000);
    expect(again).toEqual(claimed);
    expect(await ledger.get(keyOf(next))).toMatchObject({ state: 'pending', leaseOwner: 'w2', attempts: 1 });
    // Another owner gets nothing while the lease is held.
    const [other] = await wb.finish([{ ...finishFirst, next: claimOf(next, 'w9') }], 30_000);
    expect(other).toBeNull();
  });

  it('keeps the reply of a parked record that finished as sent in reply_outbox until it is published', async () => {
    const ledger = createLedger(db.pool);
    const wb = createWorkerBatches(db.pool);
    const parking = createParking(db.pool);
    const fromKafka = row(1001);
    const parked = row(1002);
    await ledger.insert([fromKafka, parked]);
    await parking.park({
      appId: APP,
      deviceKey: parked.deviceKey,
      partner: 'singular',
      partition: 0,
      requestId: parked.requestId,
      idemKey: parked.idemKey,
      reason: 'awaiting_session',
      original: Buffer.from('x'),
      originalSchema: 'fp',
      receivedAtMs: Date.now(),
    });
    const [stored] = await parking.list({ appId: APP, deviceKey: parked.deviceKey, partner: 'singular' });
    expect(stored?.idemKey).toBe(parked.idemKey);
    await wb.claimReady(
      [fromKafka, parked].map((r) => ({ ...keyOf(r), owner: 'w1', deviceKey: r.deviceKey, receivedAtMs: Date.now() })),
      30_000,
    );
    await wb.finish([finishItem(fromKafka, 'w1'), finishItem(parked, 'w1', stored?.seq)], 30_000);

    // Only the parked record's reply waits for the sweep (Kafka delivers the other one again).
    const stale = await ledger.staleSent(0);
    expect(stale.map((s) => s.key.idemKey)).toEqual([parked.idemKey]);
    expect(stale[0]?.reply.singular?.deferredDeeplink).toContain('campaign=');
    expect(await parking.list({ appId: APP, deviceKey: parked.deviceKey, partner: 'singular' })).toEqual([]);

    // Published: acked, and no longer in the outbox.
    await ledger.markAcked([{ ...keyOf(parked), outbox: true }]);
    expect(await ledger.staleSent(0)).toEqual([]);
    expect((await ledger.get(keyOf(parked)))?.state).toBe('acked');

    // An entry whose row moved on without the sweep (reopened here) is dropped, not republished.
    const other = row(1003);
    await ledger.insert([other]);
    await db.pool.query(
      `INSERT INTO reply_outbox (app_id, partner, idem_key, since) VALUES ($1, 'singular', $2, now() - interval '1 hour')`,
      [APP, other.idemKey],
    );
    expect(await ledger.staleSent(0)).toEqual([]);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM reply_outbox');
    expect(rows[0]).toEqual({ n: 0 });
  });
});
