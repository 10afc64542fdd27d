/**
 * Singular Internal BI postbacks into the device graph (hybrid integrations: the SDK on the device
 * talks to Singular, the relay learns the device's identifiers and attribution from the postbacks).
 *
 * One transaction per postback: the `postbacks` row is the idempotency gate (a repeat finds it and
 * changes nothing, not even a last-seen time), then the device row, its identifiers (a new value of a
 * kind the device had is logged in `device_identifier_changes`, same device) and the attribution of
 * an install or re-engagement.
 *
 * Which device: `deviceKey()` of contracts over the postback's platform, ids and install id, the rule
 * the gateway keys the app's own records with. When no device has that key but exactly one device of
 * the app already has one of the postback's identifiers (e.g. the app keys its records by an
 * `installId` the postback does not carry), the postback lands on that device.
 */
import { deviceKey, type Platform } from '@s2s/contracts';
import type pg from 'pg';
import { withTransaction } from './db.js';
import { recordIdentifiers } from './devices.js';

type Db = Pick<pg.Pool, 'query'>;

export type PostbackEventType = 'install' | 'reengagement' | 'event';

export interface PostbackInput {
  appId: string;
  /** The postback's own id, else `sha256:<body hash>`. */
  postbackKey: string;
  eventType: PostbackEventType;
  eventName?: string | undefined;
  /** When the install / re-engagement / event happened (Unix ms). */
  eventAtMs?: number | undefined;
  platform: Platform;
  installId?: string | undefined;
  /** Device identifiers by the canonical names (idfa, idfv, aifa, asid, andi, amid, oaid). */
  ids: Partial<Record<'idfa' | 'idfv' | 'aifa' | 'asid' | 'andi' | 'amid' | 'oaid', string | undefined>>;
  customUserId?: string | undefined;
  /** Attribution of an install / re-engagement (network, campaign…), stored as given. */
  attribution?: Record<string, string | number | boolean> | undefined;
}

export type PostbackResult = { duplicate: boolean; deviceKey: string };

export function createPostbacksRepo(pool: pg.Pool) {
  return {
    async ingest(p: PostbackInput): Promise<PostbackResult> {
      const computed = deviceKey({ appId: p.appId, platform: p.platform, ids: p.ids, installId: p.installId });
      if (!computed) throw new Error('postback has no identifier the device key is made of (validated before)');
      const identifiers = identifiersOf(p);
      return withTransaction(pool, async (db) => {
        const key = await resolveDevice(db, p.appId, computed, identifiers);
        const gate = await db.query(
          `INSERT INTO postbacks (app_id, postback_key, device_key, event_type, event_name, event_at)
           VALUES ($1, $2, $3, $4, $5, to_timestamp($6::bigint / 1000.0))
           ON CONFLICT (app_id, postback_key) DO NOTHING`,
          [p.appId, p.postbackKey, key, p.eventType, p.eventName ?? null, p.eventAtMs ?? null],
        );
        if ((gate.rowCount ?? 0) === 0) {
          const { rows } = await db.query<{ device_key: string }>(
            'SELECT device_key FROM postbacks WHERE app_id = $1 AND postback_key = $2',
            [p.appId, p.postbackKey],
          );
          return { duplicate: true, deviceKey: rows[0]?.device_key ?? key };
        }
        // Singular took a session of the device (the SDK's): events may go, and Singular has the install.
        const touch = p.eventType !== 'event';
        await db.query(
          `INSERT INTO devices (app_id, device_key, platform, session_forwarded_at, installs)
           VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END,
                   CASE WHEN $5 THEN jsonb_build_object('singular', now()) ELSE '{}'::jsonb END)
           ON CONFLICT (app_id, device_key) DO UPDATE SET
             session_forwarded_at = COALESCE(devices.session_forwarded_at, EXCLUDED.session_forwarded_at),
             installs = EXCLUDED.installs || devices.installs, updated_at = now()`,
          [p.appId, key, p.platform, touch, p.eventType === 'install'],
        );
        await recordIdentifiers(db, p.appId, key, identifiers);
        if (touch && p.attribution)
          await db.query(
            `INSERT INTO device_attribution (app_id, device_key, touch, attribution, attributed_at, postback_key)
             VALUES ($1, $2, $3, $4, to_timestamp($5::bigint / 1000.0), $6)
             ON CONFLICT (app_id, device_key, touch) DO UPDATE SET attribution = EXCLUDED.attribution,
               attributed_at = EXCLUDED.attributed_at, postback_key = EXCLUDED.postback_key, updated_at = now()
             WHERE device_attribution.attributed_at IS NULL OR EXCLUDED.attributed_at IS NULL
               OR device_attribution.attributed_at <= EXCLUDED.attributed_at`,
            [p.appId, key, p.eventType, p.attribution, p.eventAtMs ?? null, p.postbackKey],
          );
        return { duplicate: false, deviceKey: key };
      });
    },

    /** Attribution Singular reported for a device, by touch. */
    async attribution(appId: string, deviceKey: string) {
      const { rows } = await pool.query<{ touch: string; attribution: Record<string, unknown>; attributed_at: Date | null }>(
        'SELECT touch, attribution, attributed_at FROM device_attribution WHERE app_id = $1 AND device_key = $2 ORDER BY touch',
        [appId, deviceKey],
      );
      return rows.map((r) => ({ touch: r.touch, attribution: r.attribution, attributedAt: r.attributed_at }));
    },
  };
}
export type PostbacksRepo = ReturnType<typeof createPostbacksRepo>;

function identifiersOf(p: PostbackInput): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.ids)) if (v) out[k] = v;
  if (p.customUserId) out.custom_user_id = p.customUserId;
  return out;
}

/** The computed key when a device has it; else the one device that already has one of the identifiers; else the computed key. */
async function resolveDevice(db: Db, appId: string, computed: string, identifiers: Record<string, string>): Promise<string> {
  const known = await db.query('SELECT 1 FROM devices WHERE app_id = $1 AND device_key = $2', [appId, computed]);
  if ((known.rowCount ?? 0) > 0) return computed;
  // custom_user_id is left out: one user may have several devices.
  const entries = Object.entries(identifiers).filter(([k]) => k !== 'custom_user_id');
  if (entries.length === 0) return computed;
  const { rows } = await db.query<{ device_key: string }>(
    `SELECT DISTINCT device_key FROM device_identifiers d
     JOIN unnest($2::text[], $3::text[]) AS t(kind, value) ON d.kind = t.kind AND d.value = t.value
     WHERE d.app_id = $1 LIMIT 2`,
    [appId, entries.map(([k]) => k), entries.map(([, v]) => v)],
  );
  return rows.length === 1 && rows[0] ? rows[0].device_key : computed;
}
