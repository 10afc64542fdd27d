/**
 * The workers' hot-path writes for many records at once (group commit): the same transitions as
 * `ledger.ts`, `devices.ts` and `outcomes.ts`, one statement (or one short transaction) per batch.
 * Callers guarantee that a batch touches each device / ledger row once. The claim and the final
 * transition are here; the full intake is full-intake.ts (the held intake, held-intake.ts, is a
 * repository of its own).
 */
import type { Partner, ReplyMessage } from '@s2s/contracts';
import type pg from 'pg';
import { createFullIntake } from './full-intake.js';
import type { LedgerKey, LedgerPlan } from './ledger.js';
import { type SendContext, type SendContextRow, sendContextColumns, toSendContext } from './privacy.js';

export interface ClaimItem extends LedgerKey {
  owner: string;
  deviceKey: string;
  /** The gateway's receipt time of the record (the erasure check of the send context). */
  receivedAtMs: number;
}

/** A claimed row: its plan, and the record's send context read in the same statement. */
export interface ClaimedRow {
  plan: LedgerPlan;
  context: SendContext;
}

export interface FinishItem extends LedgerKey {
  deviceKey: string;
  state: 'sent' | 'dlq' | 'skipped';
  reply: ReplyMessage;
  owner: string | null;
  /** Singular took the device's first session. */
  sessionForwarded: boolean;
  /** The partner took the device's install. */
  installed: boolean;
  /** The parked record this finishes, if it came from a lane's backlog. */
  parkedSeq?: number | undefined;
  /**
   * The lane's next record, to claim in the same statement (its lease taken as `claimReady` takes
   * it): the lane calls it right after this one, so a lane's records cost one statement each.
   */
  next?: ClaimItem | undefined;
}

/*
 * The hot-path statements run as named prepared statements: parsed once per connection, planned
 * once when Postgres settles on a generic plan. Run them on a pool with `KEYED_PLANS` (db.ts).
 */
/**
 * Takes the lease on the ready rows of a batch of keys, returning each claimed row's plan and send
 * context. `p` names the parameters: app ids, partners, idempotency keys, owners (arrays), the lease
 * in ms, devices, receipt times (arrays). A row already pending under the same owner counts as
 * claimed: a statement retried after a lost answer claims it again.
 */
const claimSql = (p: [string, string, string, string, string, string, string]) => `UPDATE ledger l SET state = 'pending',
           lease_owner = n.owner, lease_until = clock_timestamp() + ${p[4]} * interval '1 millisecond',
           attempts = l.attempts + (l.state = 'ready')::int, updated_at = now()
         FROM unnest(${p[0]}::text[], ${p[1]}::text[], ${p[2]}::text[], ${p[3]}::text[], ${p[5]}::text[], ${p[6]}::bigint[])
           AS n(app_id, partner, idem_key, owner, device_key, received_ms)
         WHERE l.app_id = n.app_id AND l.partner = n.partner AND l.idem_key = n.idem_key
           AND (l.state = 'ready' OR (l.state = 'pending' AND l.lease_owner = n.owner))
         RETURNING l.app_id, l.partner, l.idem_key, l.plan, ${sendContextColumns('n.app_id', 'n.device_key', 'n.received_ms')}`;

const CLAIM_SQL = claimSql(['$1', '$2', '$3', '$4', '$5', '$6', '$7']);

const FINISH_SQL = `WITH k AS (
           SELECT t.app_id, t.partner, t.idem_key, t.state, $5::jsonb -> (t.ord::int - 1) AS reply, t.owner, t.device_key, t.sess,
             t.inst, t.outbox
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $6::text[], $7::text[], $8::bool[], $9::bool[], $11::bool[])
             WITH ORDINALITY AS t(app_id, partner, idem_key, state, owner, device_key, sess, inst, outbox, ord)
         ), l AS (
           UPDATE ledger l SET state = k.state, reply = k.reply, lease_owner = NULL, lease_until = NULL, updated_at = now()
           FROM k WHERE l.app_id = k.app_id AND l.partner = k.partner AND l.idem_key = k.idem_key
             AND (l.state IN ('ready', 'pending', 'in_doubt') OR (k.owner IS NOT NULL AND l.lease_owner = k.owner))
           RETURNING 1
         ), o AS (
           INSERT INTO request_outcomes (request_id, partner, app_id, device_key, outcome, reason, in_doubt, reply)
           SELECT (k.reply->>'requestId')::uuid, k.partner, k.app_id, k.device_key, k.reply->>'outcome', k.reply->>'reason',
                  coalesce((k.reply->>'inDoubt')::boolean, false), k.reply FROM k
           ON CONFLICT (request_id, partner) DO UPDATE SET outcome = EXCLUDED.outcome, reason = EXCLUDED.reason,
             in_doubt = EXCLUDED.in_doubt, reply = EXCLUDED.reply, updated_at = now()
           WHERE EXCLUDED.outcome <> 'parked' OR request_outcomes.outcome = 'parked'
           RETURNING 1
         ), x AS (
           SELECT app_id, device_key, bool_or(sess) AS sess,
                  coalesce(jsonb_object_agg(partner, now()) FILTER (WHERE inst), '{}'::jsonb) AS inst
           FROM k WHERE sess OR inst GROUP BY app_id, device_key
         ), lk AS (
           -- Device rows are locked in key order, as intake locks them: the two never deadlock.
           SELECT d.app_id, d.device_key FROM devices d JOIN x ON d.app_id = x.app_id AND d.device_key = x.device_key
           ORDER BY d.app_id, d.device_key FOR UPDATE OF d
         ), d AS (
           UPDATE devices d SET session_forwarded_at = CASE WHEN x.sess THEN coalesce(d.session_forwarded_at, now()) ELSE d.session_forwarded_at END,
             installs = d.installs || x.inst, updated_at = now()
           FROM x JOIN lk ON lk.app_id = x.app_id AND lk.device_key = x.device_key
           WHERE d.app_id = x.app_id AND d.device_key = x.device_key
           RETURNING 1
         ), p AS (
           DELETE FROM parked_records WHERE seq = ANY($10::bigint[]) RETURNING 1
         ), r AS (
           INSERT INTO reply_outbox (app_id, partner, idem_key) SELECT app_id, partner, idem_key FROM k WHERE outbox
           ON CONFLICT (app_id, partner, idem_key) DO UPDATE SET since = now()
           RETURNING 1
         ), c AS (
           -- The lanes' next records (every CTE above runs to completion whether read or not).
           ${claimSql(['$12', '$13', '$14', '$15', '$18', '$16', '$17'])}
         )
         SELECT * FROM c`;

export function createWorkerBatches(pool: pg.Pool) {
  return {
    /**
     * Takes the lease on every row that is ready; returns each claimed row's plan with the record's
     * send context (`sendContextAmong`), read in the same statement (null: not claimed).
     */
    async claimReady(items: ClaimItem[], leaseMs: number): Promise<(ClaimedRow | null)[]> {
      const [apps, partners, keys, owners, devices, received] = claimColumns(items);
      const { rows } = await pool.query<ClaimRow>({
        name: 's2s_worker_claim',
        text: CLAIM_SQL,
        values: [apps, partners, keys, owners, leaseMs, devices, received],
      });
      return claimedOf(items, rows);
    },

    /**
     * Final transitions in one statement: ledger row (+ reply), request outcome (a final outcome is
     * never overwritten by `parked`, as in outcomes.ts), device graph (first session, installs),
     * and the parked record it came from (a parked record finishing as `sent` puts its key in
     * reply_outbox: Kafka will not deliver it again, so only the sweep could republish its reply).
     * The same statement claims each item's `next` row as `claimReady` does; the result is that
     * claim (null: no `next`, or its row was not ready).
     */
    async finish(items: FinishItem[], leaseMs: number): Promise<(ClaimedRow | null)[]> {
      const col = <T>(f: (i: FinishItem) => T) => items.map(f);
      const next = items.flatMap((i) => (i.next ? [i.next] : []));
      const { rows } = await pool.query<ClaimRow>({
        name: 's2s_worker_finish',
        text: FINISH_SQL,
        values: [
          col((i) => i.appId),
          col((i) => i.partner),
          col((i) => i.idemKey),
          col((i) => i.state),
          // The replies as one JSON array, the n-th for the n-th row: pg would escape each reply's
          // JSON again inside a jsonb[] literal.
          JSON.stringify(col((i) => i.reply)),
          col((i) => i.owner),
          col((i) => i.deviceKey),
          col((i) => i.sessionForwarded),
          col((i) => i.installed),
          items.filter((i) => i.parkedSeq !== undefined).map((i) => i.parkedSeq),
          col((i) => i.parkedSeq !== undefined && i.state === 'sent'),
          ...claimColumns(next),
          leaseMs,
        ],
      });
      const claimed = claimedOf(next, rows);
      let at = 0;
      return items.map((i) => (i.next ? (claimed[at++] ?? null) : null));
    },
    ...createFullIntake(pool),
  };
}
export type WorkerBatches = ReturnType<typeof createWorkerBatches>;

type ClaimRow = { app_id: string; partner: Partner; idem_key: string; plan: LedgerPlan } & SendContextRow;

/** Claim items as the six column arrays of `claimSql`: app, partner, idempotency key, owner, device, receipt time. */
const claimColumns = (items: readonly ClaimItem[]) => [
  items.map((i) => i.appId),
  items.map((i) => i.partner),
  items.map((i) => i.idemKey),
  items.map((i) => i.owner),
  items.map((i) => i.deviceKey),
  items.map((i) => i.receivedAtMs),
];

/** Each item's claimed row (plan and send context), or null when its row was not claimed. */
function claimedOf(items: readonly ClaimItem[], rows: readonly ClaimRow[]): (ClaimedRow | null)[] {
  if (rows.length === 0) return items.map(() => null);
  const got = new Map(
    rows.map((r) => [`${r.app_id}\u0000${r.partner}\u0000${r.idem_key}`, { plan: r.plan, context: toSendContext(r) }]),
  );
  return items.map((i) => got.get(`${i.appId}\u0000${i.partner}\u0000${i.idemKey}`) ?? null);
}
