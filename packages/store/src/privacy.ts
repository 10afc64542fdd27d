/**
 * Erasure of what the relay holds about a device (data subject requests), and the check that keeps
 * an erased device's records, still in Kafka, from coming back.
 *
 * `erase` resolves the operator's device (a device key, `kind:value`, or a bare identifier value the
 * device graph knows) and, in one transaction per request:
 *   - deletes the device graph (devices, device_identifiers, device_identifier_changes,
 *     device_consent, device_attribution), its parked records and parked lanes;
 *   - removes the partners' answers from stored replies (request_outcomes.reply and ledger.reply:
 *     Singular links and SKAN values, Oath claims, Onside attribution and installation tokens),
 *     keeping outcome, time and reason;
 *   - replaces idempotency keys that contain one of the device's identifiers by their SHA-256;
 *   - keeps the one-way hashes dedupe needs (device key, body hash, other idempotency keys);
 *   - records the erasure in `erasures` (when, by whom, kinds of data and counts) and the device in
 *     `erased_devices`.
 * Records parked for the device end as `suppressed` with reason `erased` (ledger `skipped`).
 *
 * Contract with the worker: its intake checks, inside the transaction that plans a record, whether
 * the device was erased after the record was received; then the record is dropped (outcome
 * `suppressed`, reason `erased`, no answer, nothing stored about the device). Only records received
 * up to the erasure are dropped: the device may come back later, as a new device. The two serialize
 * on a per-device advisory lock (`lockDevices`): an erasure holds it exclusively, an intake shares
 * it, so an intake either finishes before the erasure (which then deletes what it stored) or sees
 * the erasure (and stores nothing), never a mix that would bring erased data back.
 *
 * The hot-path tables (ledger, request_outcomes, intake) have no index by device on purpose: an
 * erasure scans the app's rows there. It is rare and runs off the hot path.
 */
import { deviceKey, RelayError } from '@s2s/contracts';
import type pg from 'pg';
import { textArrayLiteral, withTransaction } from './db.js';

type Db = Pick<pg.Pool, 'query'>;

/**
 * SQL for the rule that drops a record: it was received (`receivedMs`, Unix ms) up to its device's
 * erasure (`erasedAt`, the device's `erased_devices.erased_at`; NULL when never erased gives false).
 */
export const erasedSince = (receivedMs: string, erasedAt: string) =>
  `coalesce(${receivedMs} <= (extract(epoch FROM ${erasedAt}) * 1000)::bigint, false)`;

/**
 * The statement that takes the per-device advisory lock (transaction-scoped) of each device, in one
 * fixed order so two lockers never deadlock: `shared` for the worker's intake, exclusive for an
 * erasure. Its values are literals (escaped), so it can travel in one simple query with the `BEGIN`
 * of its transaction (`withTransaction`'s `begin`); undefined when there is no device.
 */
export function lockDevicesSql(
  devices: readonly { appId: string; deviceKey: string }[],
  mode: 'shared' | 'exclusive',
): string | undefined {
  if (devices.length === 0) return undefined;
  const fn = mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
  return `SELECT ${fn}(k) FROM (
       SELECT DISTINCT hashtextextended(d, hashtext(a)) AS k
       FROM unnest(${textArrayLiteral(devices.map((x) => x.appId))}, ${textArrayLiteral(devices.map((x) => x.deviceKey))}) AS t(a, d) ORDER BY k
     ) s`;
}

/** Takes the devices' advisory locks (see `lockDevicesSql`) inside the caller's transaction. */
export async function lockDevices(
  db: Db,
  devices: readonly { appId: string; deviceKey: string }[],
  mode: 'shared' | 'exclusive',
): Promise<void> {
  const sql = lockDevicesSql(devices, mode);
  if (sql) await db.query(sql);
}

export const IDENTIFIER_KINDS = ['idfa', 'idfv', 'aifa', 'asid', 'andi', 'amid', 'oaid', 'custom_user_id', 'install_id'] as const;
export type IdentifierKind = (typeof IDENTIFIER_KINDS)[number];

/** What an erasure removed, by kind of data (row counts). */
export interface ErasureCounts {
  devices: number;
  identifiers: number;
  identifierChanges: number;
  consent: number;
  attribution: number;
  parkedRecords: number;
  parkedLanes: number;
  replies: number;
  ledgerReplies: number;
  idempotencyKeys: number;
  postbacks: number;
}

export interface Erasure {
  id: number;
  appId: string;
  deviceKey: string;
  requestedBy: string;
  lookupKind: string;
  counts: ErasureCounts;
  erasedAt: Date;
}

const DEVICE_KEY = /^[0-9a-f]{32}$/;

/** Candidate device keys an identifier maps to by the gateway's rule (records not in the graph yet). */
function computedKeys(appId: string, kind: IdentifierKind, value: string): string[] {
  const keys: (string | undefined)[] = [];
  if (kind === 'install_id')
    for (const platform of ['iOS', 'Android'] as const) keys.push(deviceKey({ appId, platform, ids: {}, installId: value }));
  else if (kind === 'idfv') keys.push(deviceKey({ appId, platform: 'iOS', ids: { idfv: value } }));
  else if (kind === 'asid' || kind === 'andi' || kind === 'oaid' || kind === 'amid' || kind === 'aifa')
    keys.push(deviceKey({ appId, platform: 'Android', ids: { [kind]: value } }));
  return keys.filter((k): k is string => k !== undefined);
}

/** The device keys a target names, and what kind of lookup it was (never the value). */
export async function resolveDevices(db: Db, appId: string, target: string): Promise<{ keys: string[]; lookupKind: string }> {
  if (DEVICE_KEY.test(target)) return { keys: [target], lookupKind: 'device_key' };
  const m = /^([a-z_]+):(.+)$/.exec(target);
  const kind = m && (IDENTIFIER_KINDS as readonly string[]).includes(m[1] as string) ? (m[1] as IdentifierKind) : undefined;
  const value = kind ? (m?.[2] as string) : target;
  const variants = [...new Set([value, value.toLowerCase(), value.toUpperCase()])];
  const { rows } = await db.query<{ device_key: string }>(
    `SELECT DISTINCT device_key FROM device_identifiers
     WHERE app_id = $1 AND kind = ANY($2::text[]) AND value = ANY($3::text[])`,
    [appId, kind ? [kind] : [...IDENTIFIER_KINDS], variants],
  );
  const keys = new Set(rows.map((r) => r.device_key));
  if (kind) for (const k of computedKeys(appId, kind, value)) keys.add(k);
  return { keys: [...keys].sort(), lookupKind: kind ?? 'identifier' };
}

const SCRUB = `(reply - 'singular' - 'oath' - 'onside') || '{"erased": true}'::jsonb`;
const HAS_ANSWER = `(reply ?| array['singular', 'oath', 'onside'])`;

async function eraseOne(db: Db, appId: string, key: string): Promise<ErasureCounts> {
  const count = async (sql: string, params: unknown[] = [appId, key]) => (await db.query(sql, params)).rowCount ?? 0;
  const { rows: ids } = await db.query<{ value: string }>(
    'SELECT DISTINCT value FROM device_identifiers WHERE app_id = $1 AND device_key = $2',
    [appId, key],
  );
  const values = ids.map((r) => r.value.toLowerCase());

  // Parked records end as suppressed/erased; their ledger rows will never be sent.
  const { rows: parked } = await db.query<{ partner: string; idem_key: string; request_id: string }>(
    'DELETE FROM parked_records WHERE app_id = $1 AND device_key = $2 RETURNING partner, idem_key, request_id::text',
    [appId, key],
  );
  for (const p of parked) {
    await db.query(
      `UPDATE ledger SET state = 'skipped', plan = plan || '{"reason": "erased"}'::jsonb, reply = NULL, updated_at = now()
       WHERE app_id = $1 AND partner = $2 AND idem_key = $3 AND state = 'ready'`,
      [appId, p.partner, p.idem_key],
    );
    const reply = {
      requestId: p.request_id,
      appId,
      deviceKey: key,
      partner: p.partner,
      outcome: 'suppressed',
      reason: 'erased',
      inDoubt: false,
      atMs: Date.now(),
    };
    await db.query(
      `INSERT INTO request_outcomes (request_id, partner, app_id, device_key, outcome, reason, reply)
       VALUES ($1, $2, $3, $4, 'suppressed', 'erased', $5)
       ON CONFLICT (request_id, partner) DO UPDATE SET outcome = 'suppressed', reason = 'erased', reply = EXCLUDED.reply,
         updated_at = now() WHERE request_outcomes.outcome = 'parked'`,
      [p.request_id, p.partner, appId, key, reply],
    );
  }

  const hashKey = (col: string) => `'erased:' || encode(sha256(convert_to(${col}, 'UTF8')), 'hex')`;
  const containsId = (col: string) => `EXISTS (SELECT 1 FROM unnest($3::text[]) v WHERE position(v IN lower(${col})) > 0)`;
  const withValues = [appId, key, values];
  return {
    parkedRecords: parked.length,
    parkedLanes: await count('DELETE FROM parked_lanes WHERE app_id = $1 AND device_key = $2'),
    identifiers: await count('DELETE FROM device_identifiers WHERE app_id = $1 AND device_key = $2'),
    identifierChanges: await count('DELETE FROM device_identifier_changes WHERE app_id = $1 AND device_key = $2'),
    consent: await count('DELETE FROM device_consent WHERE app_id = $1 AND device_key = $2'),
    attribution: await count('DELETE FROM device_attribution WHERE app_id = $1 AND device_key = $2'),
    devices: await count('DELETE FROM devices WHERE app_id = $1 AND device_key = $2'),
    replies: await count(
      `UPDATE request_outcomes SET reply = ${SCRUB}, updated_at = now() WHERE app_id = $1 AND device_key = $2 AND ${HAS_ANSWER}`,
    ),
    ledgerReplies: await count(
      `UPDATE ledger SET reply = ${SCRUB} WHERE app_id = $1 AND device_key = $2 AND reply IS NOT NULL AND ${HAS_ANSWER}`,
    ),
    idempotencyKeys:
      values.length === 0
        ? 0
        : (await count(
            `UPDATE intake SET idempotency_key = ${hashKey('idempotency_key')}
             WHERE app_id = $1 AND device_key = $2 AND ${containsId('idempotency_key')}`,
            withValues,
          )) +
          (await count(
            `UPDATE ledger SET idem_key = ${hashKey('idem_key')}
             WHERE app_id = $1 AND device_key = $2 AND ${containsId('idem_key')}`,
            withValues,
          )),
    // The postback's key stays (Singular retries it); what the device did goes.
    postbacks: await count(
      `UPDATE postbacks SET event_name = NULL, event_at = NULL
       WHERE app_id = $1 AND device_key = $2 AND (event_name IS NOT NULL OR event_at IS NOT NULL)`,
    ),
  };
}

/** See `sendContextAmong`. */
export interface SendContext {
  erased: boolean;
  limitDataSharing: boolean | undefined;
  /** Latest value per identifier kind (idfa, idfv, aifa, asid, andi, amid, oaid, custom_user_id). */
  identifiers: Record<string, string>;
}

/**
 * The send context of one record as select-list items (`erased`, `lds`, `ids`), from SQL
 * expressions for its app, device key and receipt time: read by `sendContextAmong`, and by the
 * worker's claim in the same statement (worker-batch.ts). Each is a look-up by the device's key.
 */
export const sendContextColumns = (app: string, device: string, receivedMs: string): string =>
  `coalesce((SELECT ${erasedSince(receivedMs, 'e.erased_at')} FROM erased_devices e
              WHERE e.app_id = ${app} AND e.device_key = ${device}), false) AS erased,
   (SELECT c.limit_data_sharing FROM device_consent c WHERE c.app_id = ${app} AND c.device_key = ${device}) AS lds,
   ${latestIdentifiersSql(app, device)} AS ids`;

/** The device graph's latest value of each identifier kind (most recently seen first), as one jsonb object or null. */
export const latestIdentifiersSql = (app: string, device: string): string =>
  `(SELECT jsonb_object_agg(x.kind, x.value) FROM (
      SELECT DISTINCT ON (d.kind) d.kind, d.value FROM device_identifiers d
      WHERE d.app_id = ${app} AND d.device_key = ${device}
      ORDER BY d.kind, d.last_seen_at DESC, d.first_seen_at DESC) x)`;

export interface SendContextRow {
  erased: boolean;
  lds: boolean | null;
  ids: Record<string, string> | null;
}

export const toSendContext = (r: SendContextRow): SendContext => ({
  erased: r.erased === true,
  limitDataSharing: r.lds ?? undefined,
  identifiers: r.ids ?? {},
});

interface ErasureRow {
  id: string;
  app_id: string;
  device_key: string;
  requested_by: string;
  lookup_kind: string;
  counts: ErasureCounts;
  erased_at: Date;
}
const toErasure = (r: ErasureRow): Erasure => ({
  id: Number(r.id),
  appId: r.app_id,
  deviceKey: r.device_key,
  requestedBy: r.requested_by,
  lookupKind: r.lookup_kind,
  counts: r.counts,
  erasedAt: r.erased_at,
});

export interface EraseRequest {
  appId: string;
  /** A device key, `kind:value` (idfa, idfv, aifa, asid, andi, amid, oaid, custom_user_id, install_id) or a bare identifier. */
  device: string;
  /** Who asked (operator, ticket): kept in the audit log. */
  requestedBy: string;
}

export function createPrivacyRepo(pool: pg.Pool) {
  return {
    /** Erases every device the target resolves to; throws DEVICE_NOT_FOUND when it names none. */
    async erase(req: EraseRequest): Promise<Erasure[]> {
      return withTransaction(pool, async (db) => {
        const { keys, lookupKind } = await resolveDevices(db, req.appId, req.device);
        if (keys.length === 0)
          throw new RelayError('DEVICE_NOT_FOUND', `no device of app ${req.appId} matches the given identifier`, { status: 404 });
        const out: Erasure[] = [];
        // Serializes with the worker's intake of these devices (see the module comment) and with its
        // final transitions (they lock the device row).
        await lockDevices(
          db,
          keys.map((k) => ({ appId: req.appId, deviceKey: k })),
          'exclusive',
        );
        for (const key of keys) {
          await db.query('SELECT 1 FROM devices WHERE app_id = $1 AND device_key = $2 FOR UPDATE', [req.appId, key]);
          const counts = await eraseOne(db, req.appId, key);
          const { rows } = await db.query<ErasureRow>(
            `INSERT INTO erasures (app_id, device_key, requested_by, lookup_kind, counts) VALUES ($1, $2, $3, $4, $5)
             RETURNING *`,
            [req.appId, key, req.requestedBy, lookupKind, counts],
          );
          const row = rows[0] as ErasureRow;
          await db.query(
            `INSERT INTO erased_devices (app_id, device_key, erased_at, erasure_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (app_id, device_key) DO UPDATE SET erased_at = EXCLUDED.erased_at, erasure_id = EXCLUDED.erasure_id`,
            [req.appId, key, row.erased_at, row.id],
          );
          out.push(toErasure(row));
        }
        return out;
      });
    },

    /**
     * Whether a record of the device must be dropped: the device was erased after the record was
     * received (`receivedAtMs`, the gateway's time on the ingest message). Without a time: erased at all.
     */
    async isErased(appId: string, deviceKey: string, receivedAtMs?: number, db: Db = pool): Promise<boolean> {
      const { rows } = await db.query<{ erased_ms: string }>(
        `SELECT (extract(epoch FROM erased_at) * 1000)::bigint AS erased_ms FROM erased_devices
         WHERE app_id = $1 AND device_key = $2`,
        [appId, deviceKey],
      );
      const r = rows[0];
      return r !== undefined && (receivedAtMs === undefined || receivedAtMs <= Number(r.erased_ms));
    },

    /**
     * What the worker reads just before a partner call, for a batch of records in one round trip
     * (in the input's order): whether the record's device was erased after it was received (as
     * `isErased`), the device's recorded consent (`device_consent`) and its latest value of each
     * identifier kind in the device graph (most recently seen first).
     */
    async sendContextAmong(
      records: readonly { appId: string; deviceKey: string; receivedAtMs: number }[],
      db: Db = pool,
    ): Promise<SendContext[]> {
      if (records.length === 0) return [];
      const { rows } = await db.query<SendContextRow>(
        `SELECT t.ord, ${sendContextColumns('t.app_id', 't.device_key', 't.received_ms')}
         FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS t(app_id, device_key, received_ms, ord)
         ORDER BY t.ord`,
        [records.map((r) => r.appId), records.map((r) => r.deviceKey), records.map((r) => r.receivedAtMs)],
      );
      return rows.map(toSendContext);
    },

    /** The audit log, newest first. */
    async erasures(appId?: string, limit = 100): Promise<Erasure[]> {
      const { rows } = await pool.query<ErasureRow>(
        'SELECT * FROM erasures WHERE $1::text IS NULL OR app_id = $1 ORDER BY id DESC LIMIT $2',
        [appId ?? null, limit],
      );
      return rows.map(toErasure);
    },
  };
}
export type PrivacyRepo = ReturnType<typeof createPrivacyRepo>;
