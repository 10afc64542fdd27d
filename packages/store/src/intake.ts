/**
 * The gateway's intake log (migration 20261122190300000_intake.sql). `claim` is the one Postgres
 * round trip on the intake path: it inserts every new (app, idempotency key) and returns, in the
 * input's order, the row that now holds each key, whether this call inserted it or found it there.
 */
import type { RecordKind } from '@s2s/contracts';
import type pg from 'pg';

export interface IntakeClaim {
  appId: string;
  idempotencyKey: string;
  /** The request id to use when the key is new. */
  requestId: string;
  bodyHash: string;
  deviceKey: string;
  kind: RecordKind;
  acceptedAtMs: number;
}

export interface ClaimResult {
  /** The request id that holds the key: the claim's own when `inserted`, else the earlier one. */
  requestId: string;
  bodyHash: string;
  produced: boolean;
  acceptedAtMs: number;
  /** True when this claim created the row. */
  inserted: boolean;
}

export interface IntakeRow {
  appId: string;
  idempotencyKey: string;
  requestId: string;
  bodyHash: string;
  deviceKey: string;
  kind: RecordKind;
  produced: boolean;
  acceptedAt: Date;
}

// Rows are inserted sorted by key (DISTINCT ON … ORDER BY): two concurrent claims that share keys
// then lock them in the same order and cannot deadlock. A key repeated inside one call is inserted
// once; its first occurrence gets `inserted`. The outer join on `intake` reads the statement's
// snapshot, so it sees rows that existed before, never the ones the CTE inserts.
const CLAIM_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[])
    WITH ORDINALITY AS t(app_id, idempotency_key, request_id, body_hash, device_key, kind, accepted_ms, ord)
), ins AS (
  INSERT INTO intake (app_id, idempotency_key, request_id, body_hash, device_key, kind, accepted_at)
  SELECT DISTINCT ON (app_id, idempotency_key) app_id, idempotency_key, request_id, body_hash, device_key, kind,
    to_timestamp(accepted_ms / 1000.0)
  FROM input ORDER BY app_id, idempotency_key, ord
  ON CONFLICT (app_id, idempotency_key) DO NOTHING
  RETURNING app_id, idempotency_key, request_id, body_hash, produced, accepted_at
)
SELECT i.ord,
  coalesce(n.request_id, e.request_id)::text AS request_id,
  coalesce(n.body_hash, e.body_hash) AS body_hash,
  coalesce(n.produced, e.produced) AS produced,
  round(extract(epoch FROM coalesce(n.accepted_at, e.accepted_at)) * 1000)::bigint AS accepted_ms,
  coalesce(n.request_id = i.request_id, false) AS inserted
FROM input i
LEFT JOIN ins n ON n.app_id = i.app_id AND n.idempotency_key = i.idempotency_key
LEFT JOIN intake e ON e.app_id = i.app_id AND e.idempotency_key = i.idempotency_key
ORDER BY i.ord`;

interface ClaimRow {
  ord: string;
  request_id: string | null;
  body_hash: string | null;
  produced: boolean | null;
  accepted_ms: string | null;
  inserted: boolean;
}

export function createIntakeRepo(pool: Pick<pg.Pool, 'query'>) {
  async function claimOnce(claims: IntakeClaim[]): Promise<(ClaimResult | undefined)[]> {
    const { rows } = await pool.query<ClaimRow>(CLAIM_SQL, [
      claims.map((c) => c.appId),
      claims.map((c) => c.idempotencyKey),
      claims.map((c) => c.requestId),
      claims.map((c) => c.bodyHash),
      claims.map((c) => c.deviceKey),
      claims.map((c) => c.kind),
      claims.map((c) => c.acceptedAtMs),
    ]);
    return rows.map((r) =>
      r.request_id === null
        ? undefined
        : {
            requestId: r.request_id,
            bodyHash: r.body_hash as string,
            produced: r.produced as boolean,
            acceptedAtMs: Number(r.accepted_ms),
            inserted: r.inserted,
          },
    );
  }

  return {
    /** Inserts new keys and returns the row holding each key, in the input's order. */
    async claim(claims: IntakeClaim[]): Promise<ClaimResult[]> {
      if (claims.length === 0) return [];
      const results = await claimOnce(claims);
      // A key inserted by a concurrent transaction that committed after this statement's snapshot is
      // neither inserted nor visible: ask again for those (the row is committed by then).
      for (let attempt = 0; attempt < 3; attempt++) {
        const missing = results.flatMap((r, i) => (r === undefined ? [i] : []));
        if (missing.length === 0) break;
        const again = await claimOnce(missing.map((i) => claims[i] as IntakeClaim));
        missing.forEach((i, j) => {
          results[i] = again[j];
        });
      }
      return results.map((r) => {
        if (!r) throw new Error('intake claim found no row after retries');
        return r;
      });
    },

    /** Marks records as acknowledged by Kafka. */
    async markProduced(requestIds: readonly string[]): Promise<void> {
      if (requestIds.length === 0) return;
      await pool.query('UPDATE intake SET produced = true WHERE request_id = ANY($1::uuid[]) AND NOT produced', [requestIds]);
    },

    async get(requestId: string): Promise<IntakeRow | undefined> {
      const { rows } = await pool.query<{
        app_id: string;
        idempotency_key: string;
        request_id: string;
        body_hash: string;
        device_key: string;
        kind: RecordKind;
        produced: boolean;
        accepted_at: Date;
      }>(
        'SELECT app_id, idempotency_key, request_id::text, body_hash, device_key, kind, produced, accepted_at FROM intake WHERE request_id = $1',
        [requestId],
      );
      const r = rows[0];
      if (!r) return undefined;
      return {
        appId: r.app_id,
        idempotencyKey: r.idempotency_key,
        requestId: r.request_id,
        bodyHash: r.body_hash,
        deviceKey: r.device_key,
        kind: r.kind,
        produced: r.produced,
        acceptedAt: r.accepted_at,
      };
    },
  };
}
export type IntakeRepo = ReturnType<typeof createIntakeRepo>;
