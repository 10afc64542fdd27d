/**
 * The intake of devices whose state the worker holds from their previous intake (`HeldDevice`):
 * their records are planned in the worker against that state and written by one statement, with no
 * transaction around it, where the full intake (`intakeHolding` in full-intake.ts) takes four round
 * trips and locks. The statement writes a device's records only when all of these hold, and
 * otherwise writes nothing of the device (the caller then takes it through the full intake):
 * - the device row still has the intake version the worker holds: no other intake (another worker
 *   during a rebalance) and no erasure (it deletes the row) came in between. A row changed by a
 *   transaction that commits while this statement waits for its lock is checked again as it is then;
 * - no record's idempotency key is in the ledger yet (a duplicate or a redelivery: the full intake
 *   answers it with what was planned before);
 * - no record was received before an erasure of the device.
 * Every write of a device hangs on the update of its row (the CTE `acc`: the others write only for
 * its devices). The rows are locked first, in key order, as every statement of the hot path locks
 * them, so that none deadlocks with another. An erasure that locks the row first leaves this
 * statement nothing to write; one that comes after waits for the row and then deletes what was
 * written, as it does after a full intake.
 *
 * Rows can be claimed by the same statement (`claim`): inserted as pending under the caller's lease,
 * as `claimReady` claims a ready row. Each claim carries the send context that `claimReady` reads,
 * as the graph stands once the intake is written: the statement reads consent and identifiers before
 * its own writes, and the batch's identifiers and newest consent choice are laid over them here.
 */
import type pg from 'pg';
import { CONSENT_NEWER_WINS, consentColumns, latestChoices } from './consent.js';
import type { IntakeInput, IntakeResult, PlanningState } from './devices.js';
import {
  afterRecord,
  among,
  claimContext,
  claimsOf,
  consentChoices,
  deviceColumns,
  devKey,
  graphWrites,
  type HeldClaim,
  type HeldDevice,
  identifierCtes,
  insertPlannedSql,
} from './intake-writes.js';
import { ledgerRowColumns, type NewLedgerRow } from './ledger.js';
import { erasedSince, latestIdentifiersSql, type SendContext } from './privacy.js';

/** One device's records for the held intake, in the order of their offsets. */
export interface HeldIntake {
  held: HeldDevice;
  inputs: IntakeInput[];
  /** Plans one record against the state the device's earlier records left. */
  plan: (input: IntakeInput, device: PlanningState) => NewLedgerRow[];
  /**
   * Called for each planned row, in order: the lease owner to claim it for, when its lane can call
   * the partner at once; undefined leaves it ready.
   */
  claim?: (input: IntakeInput, row: NewLedgerRow) => string | undefined;
}

export type HeldIntakeResult =
  /** Written: the device's new held state, each record's result, and the rows each record had claimed. */
  | { applied: true; held: HeldDevice; results: IntakeResult[]; claims: HeldClaim[][] }
  /** Nothing of the device was written (see the module comment): take it through the full intake. */
  | { applied: false };

const HELD_INTAKE_SQL = `WITH d AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[], $6::smallint[], $7::bool[],
         $8::bigint[], $9::bool[]) AS d(app_id, device_key, at, sess_at, lds, att, lat, seq, ctx)
     ), r AS (
       SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::bigint[]) AS r(app_id, device_key, idem_key, received_ms)
     ), stale AS MATERIALIZED (
       -- Joins, not EXISTS: an EXISTS under OR is planned as a hashed subplan that reads the app's whole ledger.
       SELECT r.app_id, r.device_key FROM r JOIN ledger l ON l.app_id = r.app_id AND l.idem_key = r.idem_key
       UNION ALL
       SELECT r.app_id, r.device_key FROM r JOIN erased_devices e ON e.app_id = r.app_id AND e.device_key = r.device_key
       WHERE ${erasedSince('r.received_ms', 'e.erased_at')}
     ), lk AS (
       -- The device rows, locked in key order as the full intake and the final transitions lock
       -- them, so that none of them deadlocks with another.
       SELECT dv.app_id, dv.device_key FROM devices dv JOIN d ON dv.app_id = d.app_id AND dv.device_key = d.device_key
       WHERE ${among('d', 'stale')} IS NOT TRUE
       ORDER BY dv.app_id, dv.device_key FOR UPDATE OF dv
     ), acc AS (
       UPDATE devices dv SET last_activity_ms = GREATEST(dv.last_activity_ms, d.at),
         first_session_ms = coalesce(dv.first_session_ms, d.sess_at), limit_data_sharing = coalesce(d.lds, dv.limit_data_sharing),
         att_status = coalesce(d.att, dv.att_status), limit_ad_tracking = coalesce(d.lat, dv.limit_ad_tracking),
         intake_seq = nextval('device_intake_seq'), updated_at = now()
       FROM d WHERE dv.app_id = d.app_id AND dv.device_key = d.device_key AND dv.intake_seq = d.seq AND ${among('d', 'lk')} IS TRUE
       RETURNING dv.app_id, dv.device_key, dv.intake_seq::text AS seq, d.ctx
     ), led AS (
       ${insertPlannedSql(14, `WHERE ${among('x', 'acc')} IS TRUE`)} RETURNING 1
     ), ${identifierCtes(23, 'acc')}, con AS (
       INSERT INTO device_consent (app_id, device_key, limit_data_sharing, at_ms, request_id, source)
       SELECT c.* FROM unnest($33::text[], $34::text[], $35::bool[], $36::bigint[], $37::uuid[], $38::text[])
         AS c(app_id, device_key, lds, at_ms, request_id, source)
       WHERE ${among('c', 'acc')} IS TRUE
       ${CONSENT_NEWER_WINS}
       RETURNING 1
     )
     SELECT a.app_id, a.device_key, a.seq, c.limit_data_sharing AS lds, c.at_ms::text AS lds_at,
       CASE WHEN a.ctx THEN ${latestIdentifiersSql('a.app_id', 'a.device_key')} END AS ids
     FROM acc a LEFT JOIN device_consent c ON a.ctx AND c.app_id = a.app_id AND c.device_key = a.device_key`;

interface AppliedRow {
  app_id: string;
  device_key: string;
  seq: string;
  lds: boolean | null;
  lds_at: string | null;
  ids: Record<string, string> | null;
}

interface Planned {
  device: HeldIntake;
  held: HeldDevice;
  rows: NewLedgerRow[][];
  owners: (string | undefined)[][];
}

/** Plans a device's records against the held state, in order, and asks for each row's claim. */
function planDevice(device: HeldIntake): Planned | undefined {
  const keys = new Set(device.inputs.map((i) => i.idemKey));
  // The same key twice in one batch (a re-drive next to its original): the full intake sorts it out.
  if (keys.size !== device.inputs.length) return undefined;
  let state: PlanningState = device.held;
  const rows: NewLedgerRow[][] = [];
  const owners: (string | undefined)[][] = [];
  for (const input of device.inputs) {
    const planned = device.plan(input, state);
    rows.push(planned);
    owners.push(planned.map((row) => device.claim?.(input, row)));
    state = afterRecord(state, input);
  }
  return { device, held: { seq: device.held.seq, ...state }, rows, owners };
}

export function createHeldIntake(pool: pg.Pool) {
  return {
    /** Writes the devices' records where the conditions of the module comment hold; one result per device. */
    async intake(devices: HeldIntake[], leaseMs: number): Promise<HeldIntakeResult[]> {
      const planned = devices.map(planDevice);
      const go = planned.filter((p): p is Planned => p !== undefined);
      if (go.length === 0) return devices.map(() => ({ applied: false }));
      const inputs = go.flatMap((p) => p.device.inputs);
      const rows = go.flatMap((p) => p.rows.flat());
      const { devices: writes, identifiers } = graphWrites(inputs);
      const byDevice = new Map(go.map((p) => [devKey(p.device.inputs[0] as IntakeInput), p]));
      const ofWrite = writes.map((w) => byDevice.get(devKey(w)) as Planned);
      const { rows: applied } = await pool.query<AppliedRow>({
        name: 's2s_worker_held_intake',
        text: HELD_INTAKE_SQL,
        values: [
          ...deviceColumns(writes),
          ofWrite.map((p) => p.device.held.seq),
          // Whether the device has a claim: the statement then reads its send context.
          ofWrite.map((p) => p.owners.some((o) => o.some((x) => x !== undefined))),
          inputs.map((i) => i.appId),
          inputs.map((i) => i.deviceKey),
          inputs.map((i) => i.idemKey),
          inputs.map((i) => i.receivedAtMs),
          ...ledgerRowColumns(rows),
          go.flatMap((p) => p.owners.flat().map((o) => o ?? null)),
          leaseMs,
          ...identifiers,
          ...consentColumns(latestChoices(consentChoices(inputs))),
        ],
      });
      const done = new Map(applied.map((a) => [devKey({ appId: a.app_id, deviceKey: a.device_key }), a]));
      return planned.map((p): HeldIntakeResult => {
        const row = p && done.get(devKey(p.device.inputs[0] as IntakeInput));
        if (!p || !row) return { applied: false };
        let context: SendContext | undefined;
        const contextOf = () => {
          context ??= claimContext(p.device.inputs, {
            lds: row.lds,
            ldsAtMs: row.lds_at === null ? undefined : Number(row.lds_at),
            ids: row.ids,
          });
          return context;
        };
        return {
          applied: true,
          held: { ...p.held, seq: row.seq },
          results: p.rows.map((r) => ({ duplicate: false, rows: r })),
          claims: p.rows.map((r, k) => claimsOf(r, p.owners[k], contextOf)),
        };
      });
    },
  };
}
export type HeldIntakeRepo = ReturnType<typeof createHeldIntake>;
