/**
 * Consent per device (Singular `data_sharing_options`, canonical `limitDataSharing`): the latest
 * choice and the device time of the record that reported it (table `device_consent`).
 *
 * Contract with the worker: at intake, a record that carries `limitDataSharing` is recorded with
 * `recordConsent`; a record that does not is sent with `consentFor(app, device)`'s value, so a device
 * that refused sharing is never reported to a partner as sharing. An older record (device time)
 * never overrides a newer choice, so redelivery and replay cannot move consent backwards.
 */
import type pg from 'pg';

type Db = Pick<pg.Pool, 'query'>;

export interface Consent {
  limitDataSharing: boolean;
  /** Device time (Unix ms) of the record that reported it. */
  atMs: number;
  source: 'record' | 'postback' | 'operator';
  requestId: string | null;
  recordedAt: Date;
}

export interface ConsentInput {
  appId: string;
  deviceKey: string;
  limitDataSharing: boolean;
  /** Device time of the record (Unix ms): the record's timestampMs, else its receivedAtMs. */
  atMs: number;
  requestId?: string;
  source?: Consent['source'];
}

interface Row {
  app_id: string;
  device_key: string;
  limit_data_sharing: boolean;
  at_ms: string;
  source: Consent['source'];
  request_id: string | null;
  recorded_at: Date;
}

const toConsent = (r: Row): Consent => ({
  limitDataSharing: r.limit_data_sharing,
  atMs: Number(r.at_ms),
  source: r.source,
  requestId: r.request_id,
  recordedAt: r.recorded_at,
});

export function createConsentRepo(pool: pg.Pool) {
  return {
    /** Records a device's choice unless a newer one (device time) is already there. True when stored. */
    async recordConsent(c: ConsentInput, db: Db = pool): Promise<boolean> {
      const r = await db.query(
        `INSERT INTO device_consent (app_id, device_key, limit_data_sharing, at_ms, request_id, source)
         VALUES ($1, $2, $3, $4, $5, $6)
         ${CONSENT_NEWER_WINS}`,
        [c.appId, c.deviceKey, c.limitDataSharing, c.atMs, c.requestId ?? null, c.source ?? 'record'],
      );
      return (r.rowCount ?? 0) > 0;
    },

    /**
     * `recordConsent` for many records in one statement (the worker's intake): per device the
     * newest of the given choices (device time; the later one on a tie), under the same rule.
     */
    async recordConsentMany(inputs: readonly ConsentInput[], db: Db = pool): Promise<void> {
      const list = latestChoices(inputs);
      if (list.length === 0) return;
      await db.query(
        `INSERT INTO device_consent (app_id, device_key, limit_data_sharing, at_ms, request_id, source)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::bigint[], $5::uuid[], $6::text[])
         ${CONSENT_NEWER_WINS}`,
        consentColumns(list),
      );
    },

    /** The device's latest choice, or undefined when it never said. */
    async consentFor(appId: string, deviceKey: string, db: Db = pool): Promise<Consent | undefined> {
      const { rows } = await db.query<Row>('SELECT * FROM device_consent WHERE app_id = $1 AND device_key = $2', [
        appId,
        deviceKey,
      ]);
      return rows[0] ? toConsent(rows[0]) : undefined;
    },

    /** Choices of several devices of one app in one round trip (the worker's intake batches), by device key. */
    async consentForMany(appId: string, deviceKeys: readonly string[], db: Db = pool): Promise<Map<string, Consent>> {
      if (deviceKeys.length === 0) return new Map();
      const { rows } = await db.query<Row>('SELECT * FROM device_consent WHERE app_id = $1 AND device_key = ANY($2::text[])', [
        appId,
        deviceKeys,
      ]);
      return new Map(rows.map((r) => [r.device_key, toConsent(r)]));
    },
  };
}
export type ConsentRepo = ReturnType<typeof createConsentRepo>;

/** How a choice is stored over the one already recorded: only when it is as new or newer (device time). */
export const CONSENT_NEWER_WINS = `ON CONFLICT (app_id, device_key) DO UPDATE SET limit_data_sharing = EXCLUDED.limit_data_sharing,
           at_ms = EXCLUDED.at_ms, request_id = EXCLUDED.request_id, source = EXCLUDED.source, recorded_at = now()
         WHERE device_consent.at_ms <= EXCLUDED.at_ms`;

/** Per device, the newest of the given choices (device time; the later one on a tie). */
export function latestChoices(inputs: readonly ConsentInput[]): ConsentInput[] {
  const latest = new Map<string, ConsentInput>();
  for (const c of inputs) {
    const k = `${c.appId}\u0000${c.deviceKey}`;
    const cur = latest.get(k);
    if (!cur || cur.atMs <= c.atMs) latest.set(k, c);
  }
  return [...latest.values()];
}

/** Choices as the six column arrays of a `device_consent` insert: app, device, choice, device time, request id, source. */
export const consentColumns = (list: readonly ConsentInput[]) => [
  list.map((c) => c.appId),
  list.map((c) => c.deviceKey),
  list.map((c) => c.limitDataSharing),
  list.map((c) => c.atMs),
  list.map((c) => c.requestId ?? null),
  list.map((c) => c.source ?? 'record'),
];

/**
 * The value a record is sent with: its own when it says, else the device's recorded choice.
 * (Pure: the worker applies it to the record before the partner call.)
 */
export function effectiveLimitDataSharing(own: boolean | undefined, recorded: Consent | undefined): boolean | undefined {
  return own ?? recorded?.limitDataSharing;
}
