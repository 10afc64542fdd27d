/**
 * The device graph: per app and device key, every identifier seen (first/last seen), identifier
 * changes linked to the same device, first-session time, last activity, consent and install state
 * per partner.
 *
 * The worker's intake (the one ordered step per record, which plans it against this state) is
 * `createWorkerBatches(...).intake`.
 */
import type pg from 'pg';
import type { LedgerRow, NewLedgerRow } from './ledger.js';

export interface DeviceState {
  appId: string;
  deviceKey: string;
  platform: string;
  lastActivityMs: number | null;
  firstSessionMs: number | null;
  sessionForwardedAt: Date | null;
  installs: Partial<Record<string, string>>;
}

/** What planning a record reads of its device (services/worker rules.ts). */
export type PlanningState = Pick<DeviceState, 'lastActivityMs' | 'firstSessionMs'>;

export interface IntakeInput {
  appId: string;
  deviceKey: string;
  idemKey: string;
  platform: string;
  kind: 'session' | 'event';
  /** Device time of the record (Unix ms). */
  recordTimeMs: number;
  /** Identifiers present on the record, by kind (idfa, idfv, aifa, asid, andi, amid, oaid, custom_user_id). */
  identifiers: Record<string, string>;
  consent: { limitDataSharing?: boolean | undefined; attStatus?: number | undefined; limitAdTracking?: boolean | undefined };
  /** The record's request id: the worker's batched intake keeps it with the device's consent choice. */
  requestId?: string | undefined;
  /** When the gateway accepted the record (Unix ms): a device erased since then gets nothing stored. */
  receivedAtMs: number;
}

export type IntakeResult =
  /** An earlier delivery of the same idempotency key planned these rows. */
  | { duplicate: true; erased?: undefined; rows: LedgerRow[] }
  /** Planned now. */
  | { duplicate: false; erased?: undefined; rows: NewLedgerRow[] }
  /** The device was erased after the record was received: dropped, nothing stored. */
  | { duplicate: false; erased: true; rows: [] };

/** A `devices` row as selected with DEVICE_COLUMNS. */
export interface DeviceRow {
  app_id: string;
  device_key: string;
  platform: string;
  last_activity_ms: string | null;
  first_session_ms: string | null;
  session_forwarded_at: Date | null;
  installs: Partial<Record<string, string>>;
  /** The intake version (migration 20261206190000000): null until an intake planned records of the device. */
  intake_seq: string | null;
}

export const toState = (r: DeviceRow): DeviceState => ({
  appId: r.app_id,
  deviceKey: r.device_key,
  platform: r.platform,
  lastActivityMs: r.last_activity_ms === null ? null : Number(r.last_activity_ms),
  firstSessionMs: r.first_session_ms === null ? null : Number(r.first_session_ms),
  sessionForwardedAt: r.session_forwarded_at,
  installs: r.installs,
});

export const DEVICE_COLUMNS =
  'app_id, device_key, platform, last_activity_ms, first_session_ms, session_forwarded_at, installs, intake_seq::text AS intake_seq';
type Db = Pick<pg.Pool, 'query'>;

export function createDeviceGraph(pool: pg.Pool) {
  return {
    async get(appId: string, deviceKey: string, db: Db = pool): Promise<DeviceState | undefined> {
      const { rows } = await db.query<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE app_id = $1 AND device_key = $2`, [
        appId,
        deviceKey,
      ]);
      return rows[0] ? toState(rows[0]) : undefined;
    },

    /** Singular took the device's first session: its events may go from now on. */
    async markSessionForwarded(appId: string, deviceKey: string, db: Db = pool): Promise<void> {
      await db.query(
        `UPDATE devices SET session_forwarded_at = COALESCE(session_forwarded_at, now()), updated_at = now()
         WHERE app_id = $1 AND device_key = $2`,
        [appId, deviceKey],
      );
    },

    /** A partner took the device's install. */
    async markInstalled(appId: string, deviceKey: string, partner: string, db: Db = pool): Promise<void> {
      await db.query(
        `UPDATE devices SET installs = installs || jsonb_build_object($3::text, now()), updated_at = now()
         WHERE app_id = $1 AND device_key = $2`,
        [appId, deviceKey, partner],
      );
    },

    /** Identifiers of a device, with their first/last seen times. */
    async identifiers(appId: string, deviceKey: string) {
      const { rows } = await pool.query<{ kind: string; value: string; first_seen_at: Date; last_seen_at: Date }>(
        `SELECT kind, value, first_seen_at, last_seen_at FROM device_identifiers
         WHERE app_id = $1 AND device_key = $2 ORDER BY kind, first_seen_at`,
        [appId, deviceKey],
      );
      return rows.map((r) => ({ kind: r.kind, value: r.value, firstSeenAt: r.first_seen_at, lastSeenAt: r.last_seen_at }));
    },

    async identifierChanges(appId: string, deviceKey: string) {
      const { rows } = await pool.query<{ kind: string; old_value: string; new_value: string; changed_at: Date }>(
        `SELECT kind, old_value, new_value, changed_at FROM device_identifier_changes
         WHERE app_id = $1 AND device_key = $2 ORDER BY id`,
        [appId, deviceKey],
      );
      return rows.map((r) => ({ kind: r.kind, oldValue: r.old_value, newValue: r.new_value, changedAt: r.changed_at }));
    },
  };
}
export type DeviceGraph = ReturnType<typeof createDeviceGraph>;

/**
 * Upserts a device's identifiers; a new value for a kind the device already had is logged as a
 * change. Shared by the workers' intake and Singular postbacks, so both keep the graph one way.
 */
export async function recordIdentifiers(
  db: Db,
  appId: string,
  deviceKey: string,
  identifiers: Record<string, string>,
): Promise<void> {
  const entries = Object.entries(identifiers);
  if (entries.length === 0) return;
  await db.query(
    `WITH incoming AS (SELECT * FROM unnest($3::text[], $4::text[]) AS t(kind, value)),
     changes AS (
       INSERT INTO device_identifier_changes (app_id, device_key, kind, old_value, new_value)
       SELECT $1, $2, i.kind, prev.value, i.value FROM incoming i
       JOIN LATERAL (SELECT d.value FROM device_identifiers d
                     WHERE d.app_id = $1 AND d.device_key = $2 AND d.kind = i.kind
                     ORDER BY d.last_seen_at DESC LIMIT 1) prev ON prev.value <> i.value
       WHERE NOT EXISTS (SELECT 1 FROM device_identifiers d
                         WHERE d.app_id = $1 AND d.device_key = $2 AND d.kind = i.kind AND d.value = i.value)
     )
     INSERT INTO device_identifiers (app_id, device_key, kind, value)
     SELECT $1, $2, kind, value FROM incoming
     ON CONFLICT (app_id, device_key, kind, value) DO UPDATE SET last_seen_at = now()`,
    [appId, deviceKey, entries.map(([k]) => k), entries.map(([, v]) => v)],
  );
}
