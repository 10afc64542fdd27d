/**
 * What the two intakes of the workers' records (full-intake.ts, held-intake.ts) write alike: the
 * planned ledger rows (claimed or not), the device graph's updates, identifiers and consent
 * choices, the state a device's records leave for its next ones, and the send context of a row an
 * intake claims.
 */
import type { Partner } from '@s2s/contracts';
import { type ConsentInput, latestChoices } from './consent.js';
import type { IntakeInput, PlanningState } from './devices.js';
import type { NewLedgerRow } from './ledger.js';
import type { SendContext } from './privacy.js';
import type { ClaimedRow } from './worker-batch.js';

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
 * The rows of one record an intake claimed: `rows[n]` when `owners[n]` names an owner, each with the
 * device's send context (`context`, asked only when there is a claim).
 */
export function claimsOf(
  rows: readonly NewLedgerRow[],
  owners: readonly (string | undefined)[] | undefined,
  context: () => SendContext,
): HeldClaim[] {
  return rows.flatMap((row, n) => {
    const owner = owners?.[n];
    return owner === undefined ? [] : [{ partner: row.partner, owner, claimed: { plan: row.plan, context: context() } }];
  });
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
