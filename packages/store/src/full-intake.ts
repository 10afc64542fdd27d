/**
 * The full intake of the workers' records (worker-batch.ts gives it to the workers with the other
 * hot-path batches): a transaction per batch of devices that locks them, reads what planning needs
 * from Postgres and writes the plans. Devices whose state a worker holds from their last intake take
 * the one-statement held intake instead (held-intake.ts); this is the path for the rest, and for
 * every case that one leaves to it (duplicates, redeliveries, erasures, a version moved on).
 */
import type { Partner } from '@s2s/contracts';
import type pg from 'pg';
import { createConsentRepo } from './consent.js';
import { bigintArrayLiteral, textArrayLiteral, withTransaction } from './db.js';
import { DEVICE_COLUMNS, type DeviceRow, type DeviceState, type IntakeInput, type IntakeResult, toState } from './devices.js';
import {
  afterRecord,
  claimContext,
  claimsOf,
  consentChoices,
  deviceColumns,
  devKey,
  graphWrites,
  type HeldClaim,
  type HeldDevice,
  type IntakeClaims,
  identifierCtes,
  insertPlannedSql,
} from './intake-writes.js';
import { type LedgerRow, ledgerRowColumns, type NewLedgerRow } from './ledger.js';
import { erasedSince, lockDevicesSql, type SendContext } from './privacy.js';

const KNOWN_SQL = `SELECT t.ord, ${erasedSince('t.r', 'e.erased_at')} AS erased,
               (SELECT coalesce(jsonb_agg(jsonb_build_object('partner', l.partner, 'state', l.state)), '[]'::jsonb)
                FROM ledger l WHERE l.app_id = t.a AND l.idem_key = t.i) AS existing
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS t(a, d, i, r, ord)
             LEFT JOIN erased_devices e ON e.app_id = t.a AND e.device_key = t.d ORDER BY t.ord`;

export function createFullIntake(pool: pg.Pool) {
  const consent = createConsentRepo(pool);

  /**
   * `intake`, and the state each device's records left (`HeldDevice`, by `devKey`): what a worker
   * keeps to plan the device's next records itself (held-intake.ts). A device erased, or whose row
   * has no intake version yet, is left out.
   */
  async function intakeHolding(
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
        const created = new Set<string>();
        const state = new Map<string, DeviceState>();
        const seqs = new Map<string, string | null>();
        for (const d of devices) {
          const key = devKey({ appId: d.app_id, deviceKey: d.device_key });
          state.set(key, toState(d));
          seqs.set(key, d.intake_seq);
          if (d.created) created.add(key);
        }
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
        const claimed: HeldClaim[][] = inputs.map(() => []);
        // A created device's graph before this intake was empty: its claims' send context is the
        // batch's own records of it.
        const ofDevice = new Map<string, IntakeInput[]>();
        if (claims)
          for (const i of inputs) {
            const mine = ofDevice.get(devKey(i));
            if (mine) mine.push(i);
            else ofDevice.set(devKey(i), [i]);
          }
        const contexts = new Map<string, SendContext>();
        const contextOf = (key: string) => () => {
          let context = contexts.get(key);
          if (!context) {
            context = claimContext(ofDevice.get(key) ?? [], undefined);
            contexts.set(key, context);
          }
          return context;
        };
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
          const key = devKey(input);
          const device = state.get(key) as DeviceState;
          const rows = plan(input, device);
          // The next record of this device is planned against the state this one leaves.
          state.set(key, afterRecord(device, input));
          planned.set(
            idem,
            rows.map((r) => ({ partner: r.partner, state: r.state }) as LedgerRow),
          );
          // A device this intake created has nothing parked and no lane state in Postgres: its lanes' first rows may be claimed.
          const owners = rows.map((r) => (claims && created.has(key) ? claims.claim(input, r) : undefined));
          claimed[k] = claimsOf(rows, owners, contextOf(key));
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
        return { results, held, claims: claimed, created };
      },
      { begin },
    );
  }

  return {
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
      return (await intakeHolding(inputs, plan)).results;
    },

    intakeHolding,
  };
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
