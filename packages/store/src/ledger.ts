/**
 * The dedupe ledger: one row per (app, partner, idempotency key), the only place that decides
 * whether a partner may be called for a record. Every "a partner saw it" decision is a transition
 * of a row here (see the state list in migrations/20261122190200000_worker.sql):
 *
 *   ready ──claim──▶ pending ──answer──▶ sent ──reply published──▶ acked
 *                      │ ├─clean failure (the partner certainly did not act)──▶ ready
 *                      │ ├─permanent failure──▶ dlq
 *                      │ └─lease expired / in-doubt error: hold ▶ in_doubt,  resend ▶ pending again (counted)
 *   ready ──session timeout──▶ skipped
 *
 * A pending row carries a lease (owner + lease_until, on the database clock so that workers on
 * different hosts agree). Nobody else calls the partner for that row while the lease runs; once it
 * has expired the call is in doubt (the owner died or hung after writing the request).
 */
import type { Partner, ReplyMessage } from '@s2s/contracts';
import type pg from 'pg';

export type LedgerState = 'ready' | 'pending' | 'sent' | 'acked' | 'in_doubt' | 'skipped' | 'dlq';
export const FINAL_STATES: readonly LedgerState[] = ['sent', 'acked', 'in_doubt', 'skipped', 'dlq'];

/** What intake decided for one (record, partner): kept with the row so a redelivery decides the same. */
export interface LedgerPlan {
  /** Singular `install` / the record is the device's install for Oath and Onside. */
  install?: boolean;
  /** Why the row was created as skipped. */
  reason?: string;
}

export interface LedgerKey {
  appId: string;
  partner: Partner;
  idemKey: string;
}

export interface LedgerRow extends LedgerKey {
  requestId: string;
  deviceKey: string;
  state: LedgerState;
  plan: LedgerPlan;
  leaseOwner: string | null;
  /** Milliseconds the lease still runs (≤ 0 once expired), by the database clock. */
  leaseRemainingMs: number | null;
  attempts: number;
  inDoubtCount: number;
  reply: ReplyMessage | null;
  resendWindowId: number | null;
  redriveToken: string | null;
}

export interface NewLedgerRow extends LedgerKey {
  requestId: string;
  deviceKey: string;
  state: 'ready' | 'skipped';
  plan: LedgerPlan;
}

type Db = Pick<pg.Pool, 'query'>;

const COLUMNS = `app_id, partner, idem_key, request_id, device_key, state, plan, lease_owner,
  (extract(epoch from (lease_until - clock_timestamp())) * 1000)::float8 AS lease_remaining_ms,
  attempts, in_doubt_count, reply, resend_window_id, redrive_token`;

interface Row {
  app_id: string;
  partner: Partner;
  idem_key: string;
  request_id: string;
  device_key: string;
  state: LedgerState;
  plan: LedgerPlan;
  lease_owner: string | null;
  lease_remaining_ms: number | null;
  attempts: number;
  in_doubt_count: number;
  reply: ReplyMessage | null;
  resend_window_id: string | null;
  redrive_token: string | null;
}

function toRow(r: Row): LedgerRow {
  return {
    appId: r.app_id,
    partner: r.partner,
    idemKey: r.idem_key,
    requestId: r.request_id,
    deviceKey: r.device_key,
    state: r.state,
    plan: r.plan,
    leaseOwner: r.lease_owner,
    leaseRemainingMs: r.lease_remaining_ms,
    attempts: r.attempts,
    inDoubtCount: r.in_doubt_count,
    reply: r.reply,
    resendWindowId: r.resend_window_id === null ? null : Number(r.resend_window_id),
    redriveToken: r.redrive_token,
  };
}

const KEY = 'app_id = $1 AND partner = $2 AND idem_key = $3';
const keyArgs = (k: LedgerKey) => [k.appId, k.partner, k.idemKey];

export type LedgerClaim =
  /** The caller holds the lease and may call the partner. */
  | { kind: 'claimed'; row: LedgerRow }
  /** Another attempt holds a live lease: wait, then look again. */
  | { kind: 'busy'; row: LedgerRow }
  /** A pending row whose lease ran out: the earlier call is in doubt. */
  | { kind: 'expired'; row: LedgerRow }
  /** Nothing left to do for this row (sent, acked, in doubt, skipped, dlq). */
  | { kind: 'done'; row: LedgerRow };

/**
 * New ledger rows as the seven column arrays of `unnest($1::text[], …, $7::jsonb[])`
 * (app_id, partner, idem_key, request_id, device_key, state, plan), for batched inserts.
 */
export function ledgerRowColumns(rows: NewLedgerRow[]): string[][] {
  return [
    rows.map((r) => r.appId),
    rows.map((r) => r.partner),
    rows.map((r) => r.idemKey),
    rows.map((r) => r.requestId),
    rows.map((r) => r.deviceKey),
    rows.map((r) => r.state),
    rows.map((r) => JSON.stringify(r.plan)),
  ];
}

export function createLedger(pool: pg.Pool) {
  const one = async (db: Db, sql: string, args: unknown[]): Promise<LedgerRow | undefined> => {
    const { rows } = await db.query<Row>(sql, args);
    return rows[0] ? toRow(rows[0]) : undefined;
  };

  return {
    async get(key: LedgerKey, db: Db = pool): Promise<LedgerRow | undefined> {
      return one(db, `SELECT ${COLUMNS} FROM ledger WHERE ${KEY}`, keyArgs(key));
    },

    /** Every row of one idempotency key (one per applicable partner). */
    async forKey(appId: string, idemKey: string, db: Db = pool): Promise<LedgerRow[]> {
      const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM ledger WHERE app_id = $1 AND idem_key = $2`, [appId, idemKey]);
      return rows.map(toRow);
    },

    /** Creates the rows intake planned; rows that already exist are left as they are. */
    async insert(rows: NewLedgerRow[], db: Db = pool): Promise<void> {
      if (rows.length === 0) return;
      await db.query(
        `INSERT INTO ledger (app_id, partner, idem_key, request_id, device_key, state, plan)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::jsonb[])
         ON CONFLICT (app_id, partner, idem_key) DO NOTHING`,
        ledgerRowColumns(rows),
      );
    },

    /** Takes the lease on a ready row; otherwise reports what holds it. */
    async claim(key: LedgerKey, owner: string, leaseMs: number): Promise<LedgerClaim> {
      const claimed = await one(
        pool,
        `UPDATE ledger SET state = 'pending', lease_owner = $4, lease_until = clock_timestamp() + $5 * interval '1 millisecond',
           attempts = attempts + 1, updated_at = now()
         WHERE ${KEY} AND state = 'ready' RETURNING ${COLUMNS}`,
        [...keyArgs(key), owner, leaseMs],
      );
      if (claimed) return { kind: 'claimed', row: claimed };
      const row = await this.get(key);
      if (!row) throw new Error(`ledger row missing for ${key.appId}/${key.partner}/${key.idemKey}`);
      if (row.state === 'ready') return this.claim(key, owner, leaseMs);
      if (row.state === 'pending') return { kind: (row.leaseRemainingMs ?? 0) > 0 ? 'busy' : 'expired', row };
      return { kind: 'done', row };
    },

    /** Resend policy: takes over a pending row whose lease expired, counting the earlier call as in doubt. */
    async takeOverExpired(key: LedgerKey, owner: string, leaseMs: number): Promise<LedgerRow | undefined> {
      return one(
        pool,
        `UPDATE ledger SET lease_owner = $4, lease_until = clock_timestamp() + $5 * interval '1 millisecond',
           attempts = attempts + 1, in_doubt_count = in_doubt_count + 1, updated_at = now()
         WHERE ${KEY} AND state = 'pending' AND lease_until < clock_timestamp() RETURNING ${COLUMNS}`,
        [...keyArgs(key), owner, leaseMs],
      );
    },

    /** Renews the caller's lease before another attempt (in-lane retry); false when it was lost. */
    async renew(key: LedgerKey, owner: string, leaseMs: number, countInDoubt = false): Promise<boolean> {
      const r = await pool.query(
        `UPDATE ledger SET lease_until = clock_timestamp() + $5 * interval '1 millisecond', attempts = attempts + 1,
           in_doubt_count = in_doubt_count + $6, updated_at = now()
         WHERE ${KEY} AND state = 'pending' AND lease_owner = $4`,
        [...keyArgs(key), owner, leaseMs, countInDoubt ? 1 : 0],
      );
      return (r.rowCount ?? 0) > 0;
    },

    /** A clean failure: the partner certainly did not act, the row is ready again. */
    async release(key: LedgerKey, owner: string, db: Db = pool): Promise<void> {
      await db.query(
        `UPDATE ledger SET state = 'ready', lease_owner = NULL, lease_until = NULL, updated_at = now()
         WHERE ${KEY} AND state = 'pending' AND lease_owner = $4`,
        [...keyArgs(key), owner],
      );
    },

    /**
     * Hold policy: the call is in doubt and is not made again. `owner` given: the caller's own call
     * (a timeout); absent: a lease that expired. Returns the row when this call made the transition.
     */
    async holdInDoubt(key: LedgerKey, reply: ReplyMessage, owner?: string, db: Db = pool): Promise<LedgerRow | undefined> {
      const cond = owner === undefined ? 'lease_until < clock_timestamp()' : 'lease_owner = $5';
      return one(
        db,
        `UPDATE ledger SET state = 'in_doubt', in_doubt_count = in_doubt_count + 1, lease_owner = NULL, lease_until = NULL,
           reply = $4, updated_at = now()
         WHERE ${KEY} AND state = 'pending' AND ${cond} RETURNING ${COLUMNS}`,
        owner === undefined ? [...keyArgs(key), reply] : [...keyArgs(key), reply, owner],
      );
    },

    /**
     * Records the final state and the reply. The partner's answer wins over a takeover: a row that
     * someone else holds now, or marked in doubt meanwhile, still records that the partner answered.
     */
    async finish(
      key: LedgerKey,
      state: 'sent' | 'dlq' | 'skipped',
      reply: ReplyMessage,
      owner: string | null,
      db: Db = pool,
    ): Promise<void> {
      await db.query(
        `UPDATE ledger SET state = $4, reply = $5, lease_owner = NULL, lease_until = NULL, updated_at = now()
         WHERE ${KEY} AND (state IN ('ready', 'pending', 'in_doubt') OR ($6::text IS NOT NULL AND lease_owner = $6))`,
        [...keyArgs(key), state, reply, owner],
      );
    },

    /**
     * Marks rows whose replies are on s2s.replies (sent → acked) and takes the keys marked `outbox`
     * out of reply_outbox (the others cannot be there: only a parked record's key is), in one
     * statement. A named statement, for a pool with `KEYED_PLANS` (db.ts): its batches are the
     * largest of the hot path (everything published in 200 ms), and planned afresh on a table
     * without statistics they were a sequential scan of the ledger.
     */
    async markAcked(keys: (LedgerKey & { outbox?: boolean })[], db: Db = pool): Promise<void> {
      if (keys.length === 0) return;
      // Not flushed synchronously: losing it in a crash only means a reply is published once more.
      await db.query({
        name: 's2s_ledger_mark_acked',
        text: `WITH c AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
         k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[]) AS k(app_id, partner, idem_key, outbox)),
         o AS (
           DELETE FROM reply_outbox r USING k
           WHERE k.outbox AND r.app_id = k.app_id AND r.partner = k.partner AND r.idem_key = k.idem_key RETURNING 1
         )
         UPDATE ledger l SET state = 'acked', updated_at = now()
         FROM k, c
         WHERE l.app_id = k.app_id AND l.partner = k.partner AND l.idem_key = k.idem_key AND l.state = 'sent'`,
        values: [
          keys.map((k) => k.appId),
          keys.map((k) => k.partner),
          keys.map((k) => k.idemKey),
          keys.map((k) => k.outbox ?? false),
        ],
      });
    },

    /**
     * Opens a finished row once more for a deliberate resend (`replay --resend` window) or a DLQ
     * re-drive (token): true when this call reopened it. Each window id / token works once per row.
     */
    async reopen(key: LedgerKey, grant: { resendWindowId: number } | { redriveToken: string }): Promise<boolean> {
      const byWindow = 'resendWindowId' in grant;
      const r = await pool.query(
        byWindow
          ? `UPDATE ledger SET state = 'ready', resend_window_id = $4, updated_at = now()
             WHERE ${KEY} AND state IN ('sent', 'acked') AND (resend_window_id IS NULL OR resend_window_id < $4)`
          : `UPDATE ledger SET state = 'ready', redrive_token = $4, updated_at = now()
             WHERE ${KEY} AND state IN ('dlq', 'in_doubt') AND redrive_token IS DISTINCT FROM $4`,
        [...keyArgs(key), byWindow ? grant.resendWindowId : grant.redriveToken],
      );
      return (r.rowCount ?? 0) > 0;
    },

    /**
     * Replies in reply_outbox for longer than `olderThanMs` whose rows are still `sent` (answered by
     * the partner, reply not confirmed on s2s.replies). Entries whose rows moved on (acked meanwhile,
     * reopened, erased) are dropped.
     */
    async staleSent(olderThanMs: number, limit = 500): Promise<{ key: LedgerKey; reply: ReplyMessage }[]> {
      const { rows } = await pool.query<{ app_id: string; partner: Partner; idem_key: string; reply: ReplyMessage | null }>(
        `SELECT o.app_id, o.partner, o.idem_key, CASE WHEN l.state = 'sent' THEN l.reply END AS reply
         FROM reply_outbox o LEFT JOIN ledger l USING (app_id, partner, idem_key)
         WHERE o.since < now() - $1 * interval '1 millisecond' LIMIT $2`,
        [olderThanMs, limit],
      );
      const moved = rows.filter((r) => r.reply === null);
      if (moved.length > 0)
        await pool.query(
          `DELETE FROM reply_outbox r USING unnest($1::text[], $2::text[], $3::text[]) AS k(app_id, partner, idem_key)
           WHERE r.app_id = k.app_id AND r.partner = k.partner AND r.idem_key = k.idem_key`,
          [moved.map((r) => r.app_id), moved.map((r) => r.partner), moved.map((r) => r.idem_key)],
        );
      return rows.flatMap((r) =>
        r.reply === null ? [] : [{ key: { appId: r.app_id, partner: r.partner, idemKey: r.idem_key }, reply: r.reply }],
      );
    },

    /** Calls left in doubt so far (for reports and tests). */
    async inDoubtTotal(db: Db = pool): Promise<number> {
      const { rows } = await db.query<{ n: string | null }>('SELECT sum(in_doubt_count) AS n FROM ledger');
      return Number(rows[0]?.n ?? 0);
    },
  };
}
export type Ledger = ReturnType<typeof createLedger>;
