/**
 * The workers' hot-path writes for many records at once (group commit): the same transitions as
 * `ledger.ts`, `devices.ts` and `outcomes.ts`, one statement (or one short transaction) per batch.
 * Callers guarantee that a batch touches each device / ledger row once.
 */
import type { Partner, ReplyMessage } from '@s2s/contracts';
import type pg from 'pg';
import { type ConsentInput, createConsentRepo, latestChoices } from './consent.js';
import { bigintArrayLiteral, textArrayLiteral, withTransaction } from './db.js';
import {
  DEVICE_COLUMNS,
  type DeviceRow,
  type DeviceState,
  type IntakeInput,
  type IntakeResult,
  type PlanningState,
  toState,
} from './devices.js';
import { type LedgerKey, type LedgerPlan, type LedgerRow, ledgerRowColumns, type NewLedgerRow } from './ledger.js';
import {
  erasedSince,
  lockDevicesSql,
  type SendContext,
  type SendContextRow,
  sendContextColumns,
  toSendContext,
} from './privacy.js';

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

const KNOWN_SQL = `SELECT t.ord, ${erasedSince('t.r', 'e.erased_at')} AS erased,
               (SELECT coalesce(jsonb_agg(jsonb_build_object('partner', l.partner, 'state', l.state)), '[]'::jsonb)
                FROM ledger l WHERE l.app_id = t.a AND l.idem_key = t.i) AS existing
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS t(a, d, i, r, ord)
             LEFT JOIN erased_devices e ON e.app_id = t.a AND e.device_key = t.d ORDER BY t.ord`;

export function createWorkerBatches(pool: pg.Pool) {
  const consent = createConsentRepo(pool);
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

    /**
     * The one ordered step per record, for many records in one transaction: a record is planned
     * exactly once, against the state its device's earlier records left.
     *
     * Takes each device's intake lock (shared: see `lockDevices` in privacy.ts), then, on a snapshot
     * taken after it: drops the records of devices erased after they were received (nothing is
     * stored about them: result `erased`), locks the other devices' rows (in key order, so concurrent
     * batches cannot deadlock), finds the ledger rows an earlier delivery of the same idempotency key
     * planned (a duplicate or a redelivery: nothing in the graph moves), plans the rest in input
     * order (several records of one device one after the other, against the state the previous
     * left), and stores plans, graph updates and identifiers with one statement, then the records'
     * consent choices.
     */
    async intake(
      inputs: IntakeInput[],
      plan: (input: IntakeInput, device: DeviceState) => NewLedgerRow[],
    ): Promise<IntakeResult[]> {
      return (await this.intakeHolding(inputs, plan)).results;
    },

    /**
     * `intake`, and the state each device's records left (`HeldDevice`, by `devKey`): what a worker
     * keeps to plan the device's next records itself (held-intake.ts). A device erased, or whose row
     * has no intake version yet, is left out.
     */
    async intakeHolding(
      inputs: IntakeInput[],
      plan: (input: IntakeInput, device: DeviceState) => NewLedgerRow[],
      claims?: IntakeClaims,
    ): Promise<{ results: IntakeResult[]; held: Map<string, HeldDevice>; claims: HeldClaim[][]; created: Set<string> }> {
      const col = <T>(f: (i: IntakeInput) => T) => inputs.map(f);
      // One round trip starts the transaction, takes the devices' intake locks and then, on a
      // snapshot taken after them (each statement of a simple query gets its own), creates or locks
      // the devices' rows, leaving out devices erased since their records were received.
      // synchronous_commit off for this transaction only: a plan lost in a Postgres crash is
      // planned again, because its record is redelivered (the Kafka offset moves only after the
      // record's later, synchronous, transitions, whose WAL flush covers this one).
      const begin = ['BEGIN', lockDevicesSql(inputs, 'shared'), upsertDevicesSql(inputs)].filter(Boolean).join(';\n');
      return withTransaction(
        pool,
        async (db, begun) => {
          const devices = (begun.at(-1)?.rows ?? []) as (DeviceRow & { created: boolean })[];
          const created = new Set(
            devices.filter((d) => d.created).map((d) => devKey({ appId: d.app_id, deviceKey: d.device_key })),
          );
          const state = new Map<string, DeviceState>(
            devices.map((d) => [devKey({ appId: d.app_id, deviceKey: d.device_key }), toState(d)]),
          );
          const seqs = new Map(devices.map((d) => [devKey({ appId: d.app_id, deviceKey: d.device_key }), d.intake_seq]));
          // A separate statement, so that its snapshot follows the row locks just taken: a concurrent
          // intake of the same device (another worker, during a rebalance) has committed its plans.
          const { rows: known } = await db.query<{ erased: boolean; existing: { partner: Partner; state: string }[] }>({
            name: 's2s_worker_intake_known',
            text: KNOWN_SQL,
            values: [col((i) => i.appId), col((i) => i.deviceKey), col((i) => i.idemKey), col((i) => i.receivedAtMs)],
          });
          const planned = new Map<string, LedgerRow[]>();
          const results: IntakeResult[] = [];
          const fresh: { input: IntakeInput; rows: NewLedgerRow[]; owners: (string | undefined)[] }[] = [];
          const owned: (string | undefined)[][] = inputs.map(() => []);
          for (const [k, input] of inputs.entries()) {
            const found = known[k];
            if (found?.erased) {
              results.push({ duplicate: false, erased: true, rows: [] });
              continue;
            }
            const idem = `${input.appId}\u0000${input.idemKey}`;
            const dup = planned.get(idem) ?? (found && found.existing.length > 0 ? (found.existing as LedgerRow[]) : undefined);
            if (dup) {
              results.push({ duplicate: true, rows: dup });
              continue;
            }
            const device = state.get(devKey(input)) as DeviceState;
            const rows = plan(input, device);
            // The next record of this device is planned against the state this one leaves.
            state.set(devKey(input), afterRecord(device, input));
            planned.set(
              idem,
              rows.map((r) => ({ partner: r.partner, state: r.state }) as LedgerRow),
            );
            // A device this intake created has nothing parked and no lane state in Postgres: its lanes' first rows may be claimed.
            const owners = rows.map((r) => (claims && created.has(devKey(input)) ? claims.claim(input, r) : undefined));
            owned[k] = owners;
            fresh.push({ input, rows, owners });
            results.push({ duplicate: false, rows });
          }
          if (fresh.length > 0) for (const [k, seq] of await storePlans(db, fresh, claims?.leaseMs ?? 0)) seqs.set(k, seq);
          // Consent carried forward (issue 7): each new record's choice, in the same transaction as its
          // plan, so a device's later records (and this one's own partner calls) see it.
          const choices = consentChoices(fresh.map((f) => f.input));
          if (choices.length > 0) await consent.recordConsentMany(choices, db);
          const held = new Map<string, HeldDevice>();
          for (const [k, d] of state) {
            const seq = seqs.get(k);
            if (seq) held.set(k, { seq, lastActivityMs: d.lastActivityMs, firstSessionMs: d.firstSessionMs });
          }
          // A created device's graph before this intake was empty: the claims' send context is the batch's own.
          const contexts = new Map<string, SendContext>();
          const contextOf = (key: string) => {
            let context = contexts.get(key);
            if (!context) {
              context = claimContext(
                inputs.filter((i) => devKey(i) === key),
                undefined,
              );
              contexts.set(key, context);
            }
            return context;
          };
          const claimed = results.map((r, k) =>
            r.duplicate || r.erased
              ? []
              : r.rows.flatMap((row, n) => {
                  const owner = owned[k]?.[n];
                  return owner === undefined
                    ? []
                    : [{ partner: row.partner, owner, claimed: { plan: row.plan, context: contextOf(devKey(row)) } }];
                }),
          );
          return { results, held, claims: claimed, created };
        },
        { begin },
      );
    },
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

/**
 * Creates the devices' rows or locks the existing ones, returning them, except for devices erased
 * since their record was received. Values as escaped literals: it runs inside the intake's BEGIN.
 */
function upsertDevicesSql(inputs: readonly IntakeInput[]): string {
  return `WITH t AS (
     SELECT * FROM unnest(${textArrayLiteral(inputs.map((i) => i.appId))}, ${textArrayLiteral(inputs.map((i) => i.deviceKey))},
       ${textArrayLiteral(inputs.map((i) => i.platform))}, ${bigintArrayLiteral(inputs.map((i) => i.receivedAtMs))}) AS t(a, d, p, r)
   ), live AS (
     SELECT t.a, t.d, t.p FROM t LEFT JOIN erased_devices e ON e.app_id = t.a AND e.device_key = t.d
     WHERE NOT ${erasedSince('t.r', 'e.erased_at')}
   )
   INSERT INTO devices (app_id, device_key, platform)
   SELECT DISTINCT ON (live.a, live.d) live.a, live.d, live.p FROM live
     CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS c ORDER BY live.a, live.d
   ON CONFLICT (app_id, device_key) DO UPDATE SET platform = devices.platform
   RETURNING ${DEVICE_COLUMNS}, xmax = 0 AS created`;
}

/**
 * Inserts planned ledger rows (`ledgerRowColumns` from `$first`, then the owners array `$first+7`
 * and the lease in ms `$first+8`): a row with an owner is inserted claimed, pending under its lease,
 * as `claimReady` would leave it. `where` filters the rows (alias x).
 */
export const insertPlannedSql = (first: number, where = ''): string => {
  const p = (n: number) => `$${first + n}`;
  return `INSERT INTO ledger (app_id, partner, idem_key, request_id, device_key, state, plan, lease_owner, lease_until, attempts)
       SELECT x.app_id, x.partner, x.idem_key, x.request_id, x.device_key, CASE WHEN x.owner IS NULL THEN x.state ELSE 'pending' END,
         x.plan, x.owner, CASE WHEN x.owner IS NOT NULL THEN clock_timestamp() + ${p(8)} * interval '1 millisecond' END,
         (x.owner IS NOT NULL)::int
       FROM unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::uuid[], ${p(4)}::text[], ${p(5)}::text[], ${p(6)}::jsonb[],
         ${p(7)}::text[]) AS x(app_id, partner, idem_key, request_id, device_key, state, plan, owner)
       ${where}
       ON CONFLICT (app_id, partner, idem_key) DO NOTHING`;
};

const STORE_PLANS_SQL = `WITH ins AS (
       ${insertPlannedSql(1)} RETURNING 1
     ), dev AS (
       UPDATE devices d SET last_activity_ms = GREATEST(d.last_activity_ms, u.at),
         first_session_ms = coalesce(d.first_session_ms, u.sess_at),
         limit_data_sharing = coalesce(u.lds, d.limit_data_sharing), att_status = coalesce(u.att, d.att_status),
         limit_ad_tracking = coalesce(u.lat, d.limit_ad_tracking), intake_seq = nextval('device_intake_seq'), updated_at = now()
       FROM unnest($10::text[], $11::text[], $12::bigint[], $13::bigint[], $14::bool[], $15::smallint[], $16::bool[])
         AS u(app_id, device_key, at, sess_at, lds, att, lat)
       WHERE d.app_id = u.app_id AND d.device_key = u.device_key RETURNING d.app_id, d.device_key, d.intake_seq::text AS seq
     ), ${identifierCtes(17)}
     SELECT * FROM dev`;

/**
 * Whether the row `alias` is of a device in `cte` (a CTE of app_id, device_key rows), as a boolean
 * expression to compare with IS TRUE / IS NOT TRUE. Written so that Postgres hashes `cte` once
 * (a hashed subplan) instead of joining it row by row: on the hot-path connections (`KEYED_PLANS`)
 * a join could only be a nested loop, one pass over `cte` for every row.
 */
export const among = (alias: string, cte: string): string =>
  `((${alias}.app_id, ${alias}.device_key) IN (SELECT app_id, device_key FROM ${cte}))`;

/**
 * The device graph's identifier writes, as CTEs `incoming`, `changes` and `idents` of a statement:
 * the records' identifiers (5 array parameters from `$first`: app, device, kind, value, whether it
 * is the batch's first value of its kind for the device) and the changes inside the batch (5 more:
 * app, device, kind, old value, new value); `graphWrites` builds them. `gate` names a CTE of
 * (app_id, device_key) rows: only those devices' identifiers are written.
 */
export function identifierCtes(first: number, gate?: string): string {
  const p = (n: number) => `$${first + n}`;
  const gated = (alias: string) => (gate ? `WHERE ${among(alias, gate)} IS TRUE` : '');
  return `incoming AS (
       SELECT t.* FROM unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::bool[])
         AS t(app_id, device_key, kind, value, first) ${gated('t')}
     ), changes AS (
       INSERT INTO device_identifier_changes (app_id, device_key, kind, old_value, new_value)
       SELECT i.app_id, i.device_key, i.kind, prev.value, i.value FROM incoming i
       JOIN LATERAL (SELECT d.value FROM device_identifiers d
                     WHERE d.app_id = i.app_id AND d.device_key = i.device_key AND d.kind = i.kind
                     ORDER BY d.last_seen_at DESC LIMIT 1) prev ON prev.value <> i.value
       WHERE i.first AND NOT EXISTS (SELECT 1 FROM device_identifiers d
                         WHERE d.app_id = i.app_id AND d.device_key = i.device_key AND d.kind = i.kind AND d.value = i.value)
       UNION ALL
       SELECT c.* FROM unnest(${p(5)}::text[], ${p(6)}::text[], ${p(7)}::text[], ${p(8)}::text[], ${p(9)}::text[])
         AS c(app_id, device_key, kind, old_value, new_value) ${gated('c')}
       RETURNING 1
     ), idents AS (
       INSERT INTO device_identifiers (app_id, device_key, kind, value)
       SELECT app_id, device_key, kind, value FROM incoming
       ON CONFLICT (app_id, device_key, kind, value) DO UPDATE SET last_seen_at = now()
         -- last_seen_at has minute precision: a hot device does not rewrite its identifiers on every record.
         WHERE device_identifiers.last_seen_at < now() - interval '1 minute'
       RETURNING 1
     )`;
}

/**
 * Stores plans (rows with an owner claimed, under `leaseMs`), graph updates and identifiers in one
 * statement; returns each updated device's new intake version.
 */
async function storePlans(
  db: pg.PoolClient,
  fresh: { input: IntakeInput; rows: NewLedgerRow[]; owners: (string | undefined)[] }[],
  leaseMs: number,
): Promise<Map<string, string>> {
  const rows = fresh.flatMap((f) => f.rows);
  const { devices: inputs, identifiers } = graphWrites(fresh.map((f) => f.input));
  const { rows: updated } = await db.query<{ app_id: string; device_key: string; seq: string }>({
    name: 's2s_worker_store_plans',
    text: STORE_PLANS_SQL,
    values: [
      ...ledgerRowColumns(rows),
      fresh.flatMap((f) => f.owners.map((o) => o ?? null)),
      leaseMs,
      ...deviceColumns(inputs),
      ...identifiers,
    ],
  });
  return new Map(updated.map((u) => [devKey({ appId: u.app_id, deviceKey: u.device_key }), u.seq]));
}

/** Per-device graph updates as the 7 array parameters of the statements' device update (app, device, at, sess_at, lds, att, lat). */
export const deviceColumns = (inputs: readonly DeviceWrite[]) => [
  inputs.map((i) => i.appId),
  inputs.map((i) => i.deviceKey),
  inputs.map((i) => i.recordTimeMs),
  inputs.map((i) => i.sessAt),
  inputs.map((i) => i.consent.limitDataSharing ?? null),
  inputs.map((i) => i.consent.attStatus ?? null),
  inputs.map((i) => i.consent.limitAdTracking ?? null),
];

/** One device's graph update from a batch of its records. */
export type DeviceWrite = IntakeInput & { sessAt: number | null };

/**
 * What a batch of planned records writes to the device graph: one update per device (a statement may
 * touch a row once: latest activity, first session in record order, the last consent values given)
 * and the 10 identifier arrays of `identifierCtes`.
 */
export function graphWrites(fresh: readonly IntakeInput[]): { devices: DeviceWrite[]; identifiers: unknown[][] } {
  // One graph update per device (a statement may touch a row once): latest activity, first session
  // in record order, the last consent values given.
  const perDevice = new Map<string, { i: IntakeInput; at: number; sessAt: number | null; consent: IntakeInput['consent'] }>();
  const idents = new Map<string, { i: IntakeInput; kind: string; value: string; first: boolean }>();
  // Changes inside the batch (a device's kind taking a new value between two of its records);
  // changes against what Postgres already has are found by the statement, for each kind's first value.
  const lastOfKind = new Map<string, string>();
  const batchChanges: { i: IntakeInput; kind: string; old: string; value: string }[] = [];
  for (const i of fresh) {
    const k = `${i.appId}\u0000${i.deviceKey}`;
    const cur = perDevice.get(k);
    const sessAt = cur?.sessAt ?? (i.kind === 'session' ? i.recordTimeMs : null);
    perDevice.set(k, {
      i,
      at: Math.max(cur?.at ?? i.recordTimeMs, i.recordTimeMs),
      sessAt,
      consent: {
        limitDataSharing: i.consent.limitDataSharing ?? cur?.consent.limitDataSharing,
        attStatus: i.consent.attStatus ?? cur?.consent.attStatus,
        limitAdTracking: i.consent.limitAdTracking ?? cur?.consent.limitAdTracking,
      },
    });
    for (const [kind, value] of Object.entries(i.identifiers)) {
      const prev = lastOfKind.get(`${k}\u0000${kind}`);
      if (prev !== undefined && prev !== value && !idents.has(`${k}\u0000${kind}\u0000${value}`))
        batchChanges.push({ i, kind, old: prev, value });
      lastOfKind.set(`${k}\u0000${kind}`, value);
      if (!idents.has(`${k}\u0000${kind}\u0000${value}`))
        idents.set(`${k}\u0000${kind}\u0000${value}`, { i, kind, value, first: prev === undefined });
    }
  }
  const devices = [...perDevice.values()].map((d) => ({ ...d.i, recordTimeMs: d.at, sessAt: d.sessAt, consent: d.consent }));
  const ids = [...idents.values()];
  return {
    devices,
    identifiers: [
      ids.map((x) => x.i.appId),
      ids.map((x) => x.i.deviceKey),
      ids.map((x) => x.kind),
      ids.map((x) => x.value),
      ids.map((x) => x.first),
      batchChanges.map((c) => c.i.appId),
      batchChanges.map((c) => c.i.deviceKey),
      batchChanges.map((c) => c.kind),
      batchChanges.map((c) => c.old),
      batchChanges.map((c) => c.value),
    ],
  };
}

/** The consent choices a batch of new records makes (issue 7): each record that says, with its device time. */
export function consentChoices(inputs: readonly IntakeInput[]): ConsentInput[] {
  return inputs.flatMap((i) =>
    i.consent.limitDataSharing === undefined
      ? []
      : [
          {
            appId: i.appId,
            deviceKey: i.deviceKey,
            limitDataSharing: i.consent.limitDataSharing,
            atMs: i.recordTimeMs,
            ...(i.requestId === undefined ? {} : { requestId: i.requestId }),
          },
        ],
  );
}

/** A device's key in the maps of the intake: app and device key. */
export const devKey = (i: { appId: string; deviceKey: string }): string => `${i.appId}\u0000${i.deviceKey}`;

/**
 * What the worker keeps of a device between two intakes of its records: the row's intake version,
 * and what planning reads (last activity, first session) as the device's last records left it.
 */
export interface HeldDevice {
  seq: string;
  lastActivityMs: number | null;
  firstSessionMs: number | null;
}

/** Claims an intake may make (see `HeldIntake.claim` in held-intake.ts): the owner for a planned row, and the lease. */
export interface IntakeClaims {
  claim: (input: IntakeInput, row: NewLedgerRow) => string | undefined;
  leaseMs: number;
}

/** A row an intake claimed: its owner, plan and send context, as `claimReady` returns them. */
export interface HeldClaim {
  partner: Partner;
  owner: string;
  claimed: ClaimedRow;
}

/**
 * The send context of a row an intake claimed (what `claimReady` would read once the intake is
 * written): the device's recorded consent and identifiers from before the intake (`before`;
 * undefined for a device the intake created), with the batch's identifiers and newest consent
 * choice laid over them. Erased is false: the intake checked it, holding the device's row.
 */
export function claimContext(
  inputs: readonly IntakeInput[],
  before: { lds: boolean | null; ldsAtMs: number | undefined; ids: Record<string, string> | null } | undefined,
): SendContext {
  const identifiers: Record<string, string> = { ...(before?.ids ?? {}) };
  for (const input of inputs) Object.assign(identifiers, input.identifiers);
  const [choice] = latestChoices(consentChoices(inputs));
  const recordedAt = before?.ldsAtMs;
  const lds =
    choice && (recordedAt === undefined || recordedAt <= choice.atMs) ? choice.limitDataSharing : (before?.lds ?? undefined);
  return { erased: false, limitDataSharing: lds, identifiers };
}

/** The device state a record leaves: the next record of the device is planned against it. */
export function afterRecord<S extends PlanningState>(device: S, input: IntakeInput): S {
  return {
    ...device,
    lastActivityMs: Math.max(device.lastActivityMs ?? input.recordTimeMs, input.recordTimeMs),
    firstSessionMs: device.firstSessionMs ?? (input.kind === 'session' ? input.recordTimeMs : null),
  };
}
