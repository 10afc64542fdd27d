/**
 * Durable lanes: records that wait in a (device, partner) lane, and lanes parked after their partner
 * calls kept failing. A record written here counts as finished for the Kafka commit (the offset may
 * move past it): from then on Postgres holds it, in arrival order (`seq`), until the owner of the
 * device's partition drains the lane.
 */
import type { Partner } from '@s2s/contracts';
import type pg from 'pg';

export interface LaneKey {
  appId: string;
  deviceKey: string;
  partner: Partner;
}

export type ParkReason = 'awaiting_session' | 'lane_parked';

/** A lane's durable state, read when an owner first uses the lane (`laneSnapshots`). */
export interface LaneSnapshot {
  /** A parked_lanes row exists (retry-parked). */
  parked: boolean;
  /** Records waiting in parked_records for the lane. */
  waiting: number;
  /** The device's first session has been forwarded to Singular. */
  sessionForwarded: boolean;
}

export interface NewParkedRecord extends LaneKey {
  partition: number;
  requestId: string;
  idemKey: string;
  reason: ParkReason;
  original: Buffer;
  originalSchema: string;
  receivedAtMs: number;
}

export interface ParkedRecord extends NewParkedRecord {
  seq: number;
  /** How long it has been parked, ms (database clock). */
  parkedForMs: number;
}

export interface ParkedLane extends LaneKey {
  partition: number;
  attempts: number;
  /** ms until the next attempt is due (≤ 0 when due). */
  dueInMs: number;
  lastError: string | null;
}

type Db = Pick<pg.Pool, 'query'>;
const LANE = 'app_id = $1 AND device_key = $2 AND partner = $3';
const laneArgs = (l: LaneKey) => [l.appId, l.deviceKey, l.partner];

interface RecordRow {
  seq: string;
  app_id: string;
  device_key: string;
  partner: Partner;
  partition: number;
  request_id: string;
  idem_key: string;
  reason: ParkReason;
  original: Buffer;
  original_schema: string;
  received_at_ms: string;
  parked_for_ms: number;
}

interface LaneRow {
  app_id: string;
  device_key: string;
  partner: Partner;
  partition: number;
  attempts: number;
  due_in_ms: number;
  last_error: string | null;
}

const toLane = (r: LaneRow): ParkedLane => ({
  appId: r.app_id,
  deviceKey: r.device_key,
  partner: r.partner,
  partition: r.partition,
  attempts: r.attempts,
  dueInMs: r.due_in_ms,
  lastError: r.last_error,
});

export function createParking(pool: pg.Pool) {
  return {
    async park(rec: NewParkedRecord, db: Db = pool): Promise<void> {
      await db.query(
        `INSERT INTO parked_records (app_id, device_key, partner, partition, request_id, idem_key, reason, original, original_schema, received_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          rec.appId,
          rec.deviceKey,
          rec.partner,
          rec.partition,
          rec.requestId,
          rec.idemKey,
          rec.reason,
          rec.original,
          rec.originalSchema,
          rec.receivedAtMs,
        ],
      );
    },

    /** The lane's parking row (when retry-parked) and how many records wait in it. */
    async laneState(lane: LaneKey, db: Db = pool): Promise<{ parked: ParkedLane | undefined; waiting: number }> {
      const [l, n] = await Promise.all([
        db.query<LaneRow>(
          `SELECT app_id, device_key, partner, partition, attempts, last_error,
             (extract(epoch from (next_attempt_at - clock_timestamp())) * 1000)::float8 AS due_in_ms
           FROM parked_lanes WHERE ${LANE}`,
          laneArgs(lane),
        ),
        db.query<{ n: string }>(`SELECT count(*) AS n FROM parked_records WHERE ${LANE}`, laneArgs(lane)),
      ]);
      return { parked: l.rows[0] ? toLane(l.rows[0]) : undefined, waiting: Number(n.rows[0]?.n ?? 0) };
    },

    /**
     * Everything a lane needs when an owner first uses it, for many lanes in one round trip (in the
     * input's order): retry-parked?, how many records wait in it, and (Singular) whether the
     * device's first session has been forwarded.
     */
    async laneSnapshots(lanes: readonly LaneKey[], db: Db = pool): Promise<LaneSnapshot[]> {
      if (lanes.length === 0) return [];
      const { rows } = await db.query<{ parked: boolean; waiting: number; fwd: boolean }>(
        `SELECT t.ord,
           EXISTS (SELECT 1 FROM parked_lanes l WHERE l.app_id = t.a AND l.device_key = t.d AND l.partner = t.p) AS parked,
           (SELECT count(*)::int FROM parked_records r WHERE r.app_id = t.a AND r.device_key = t.d AND r.partner = t.p) AS waiting,
           coalesce((SELECT v.session_forwarded_at IS NOT NULL FROM devices v WHERE v.app_id = t.a AND v.device_key = t.d), false) AS fwd
         FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(a, d, p, ord) ORDER BY t.ord`,
        [lanes.map((l) => l.appId), lanes.map((l) => l.deviceKey), lanes.map((l) => l.partner)],
      );
      return rows.map((r) => ({ parked: r.parked, waiting: r.waiting, sessionForwarded: r.fwd }));
    },

    /** The lane's waiting records, oldest first. */
    async list(lane: LaneKey, limit = 100, db: Db = pool): Promise<ParkedRecord[]> {
      const { rows } = await db.query<RecordRow>(
        `SELECT seq, app_id, device_key, partner, partition, request_id, idem_key, reason, original, original_schema, received_at_ms,
           (extract(epoch from (clock_timestamp() - parked_at)) * 1000)::float8 AS parked_for_ms
         FROM parked_records WHERE ${LANE} ORDER BY seq LIMIT $4`,
        [...laneArgs(lane), limit],
      );
      return rows.map((r) => ({
        seq: Number(r.seq),
        appId: r.app_id,
        deviceKey: r.device_key,
        partner: r.partner,
        partition: r.partition,
        requestId: r.request_id,
        idemKey: r.idem_key,
        reason: r.reason,
        original: r.original,
        originalSchema: r.original_schema,
        receivedAtMs: Number(r.received_at_ms),
        parkedForMs: r.parked_for_ms,
      }));
    },

    async remove(seq: number, db: Db = pool): Promise<void> {
      await db.query('DELETE FROM parked_records WHERE seq = $1', [seq]);
    },

    /** Parks (or re-parks, one more attempt) a lane until `delayMs` from now. */
    async parkLane(lane: LaneKey, partition: number, delayMs: number, error: string, db: Db = pool): Promise<number> {
      const { rows } = await db.query<{ attempts: number }>(
        `INSERT INTO parked_lanes (app_id, device_key, partner, partition, next_attempt_at, last_error)
         VALUES ($1, $2, $3, $4, clock_timestamp() + $5 * interval '1 millisecond', $6)
         ON CONFLICT (app_id, device_key, partner) DO UPDATE SET attempts = parked_lanes.attempts + 1,
           next_attempt_at = EXCLUDED.next_attempt_at, last_error = EXCLUDED.last_error, partition = EXCLUDED.partition
         RETURNING attempts`,
        [...laneArgs(lane), partition, delayMs, error],
      );
      return rows[0]?.attempts ?? 1;
    },

    async unparkLane(lane: LaneKey, db: Db = pool): Promise<void> {
      await db.query(`DELETE FROM parked_lanes WHERE ${LANE}`, laneArgs(lane));
    },

    /**
     * Lanes of these partitions that are due: parked lanes at their next attempt, and lanes of
     * records waiting for a session that has come (or that they waited `awaitingMs` for in vain).
     */
    async dueLanes(partitions: number[], awaitingMs: number, limit = 500): Promise<(LaneKey & { partition: number })[]> {
      if (partitions.length === 0) return [];
      const { rows } = await pool.query<{ app_id: string; device_key: string; partner: Partner; partition: number }>(
        `SELECT app_id, device_key, partner, partition FROM parked_lanes
           WHERE partition = ANY($1::int[]) AND next_attempt_at <= clock_timestamp()
         UNION
         SELECT DISTINCT r.app_id, r.device_key, r.partner, r.partition FROM parked_records r
           LEFT JOIN devices d ON d.app_id = r.app_id AND d.device_key = r.device_key
           WHERE r.partition = ANY($1::int[])
             AND (r.parked_at < clock_timestamp() - $2 * interval '1 millisecond' OR d.session_forwarded_at IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM parked_lanes l
                             WHERE l.app_id = r.app_id AND l.device_key = r.device_key AND l.partner = r.partner)
         LIMIT $3`,
        [partitions, awaitingMs, limit],
      );
      return rows.map((r) => ({ appId: r.app_id, deviceKey: r.device_key, partner: r.partner, partition: r.partition }));
    },

    async counts(db: Db = pool): Promise<{ parkedLanes: number; parkedRecords: number }> {
      const { rows } = await db.query<{ lanes: string; records: string }>(
        'SELECT (SELECT count(*) FROM parked_lanes) AS lanes, (SELECT count(*) FROM parked_records) AS records',
      );
      return { parkedLanes: Number(rows[0]?.lanes ?? 0), parkedRecords: Number(rows[0]?.records ?? 0) };
    },

    async lanes(): Promise<ParkedLane[]> {
      const { rows } = await pool.query<LaneRow>(
        `SELECT app_id, device_key, partner, partition, attempts, last_error,
           (extract(epoch from (next_attempt_at - clock_timestamp())) * 1000)::float8 AS due_in_ms
         FROM parked_lanes ORDER BY parked_at`,
      );
      return rows.map(toLane);
    },
  };
}
export type Parking = ReturnType<typeof createParking>;
