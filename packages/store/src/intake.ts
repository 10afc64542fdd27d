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
// once, for its first occurrence. The common case (every key new) is this one statement: a plain
// insert whose plan cannot depend on the table's size, so it is a named prepared statement and
// Postgres plans it once per connection instead of on every call.
const INSERT_SQL = `
INSERT INTO intake (app_id, idempotency_key, request_id, body_hash, device_key, kind, accepted_at)
SELECT DISTINCT ON (app_id, idempotency_key) app_id, idempotency_key, request_id, body_hash, device_key, kind,
  to_timestamp(accepted_ms / 1000.0)
FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[])
  WITH ORDINALITY AS t(app_id, idempotency_key, request_id, body_hash, device_key, kind, accepted_ms, ord)
ORDER BY app_id, idempotency_key, ord
ON CONFLICT (app_id, idempotency_key) DO NOTHING
RETURNING app_id, idempotency_key, request_id::text, body_hash, produced, round(extract(epoch FROM accepted_at) * 1000)::bigint AS accepted_ms`;

// The keys the insert did not take (held before, or by a concurrent claim that has committed since:
// ON CONFLICT waited for it, and this statement's snapshot is newer). Unnamed: it joins the table,
// so its plan must see the table as it is.
const LOOKUP_SQL = `
SELECT e.app_id, e.idempotency_key, e.request_id::text, e.body_hash, e.produced,
  round(extract(epoch FROM e.accepted_at) * 1000)::bigint AS accepted_ms
FROM unnest($1::text[], $2::text[]) AS t(app_id, idempotency_key)
JOIN intake e ON e.app_id = t.app_id AND e.idempotency_key = t.idempotency_key`;

interface ClaimRow {
  app_id: string;
  idempotency_key: string;
  request_id: string;
  body_hash: string;
  produced: boolean;
  accepted_ms: string;
}

const keyOf = (appId: string, idempotencyKey: string) => `${appId}\u0000${idempotencyKey}`;

export function createIntakeRepo(pool: Pick<pg.Pool, 'query'>) {
  async function lookUp(claims: IntakeClaim[]): Promise<Map<string, ClaimRow>> {
    const { rows } = await pool.query<ClaimRow>(LOOKUP_SQL, [claims.map((c) => c.appId), claims.map((c) => c.idempotencyKey)]);
    return new Map(rows.map((r) => [keyOf(r.app_id, r.idempotency_key), r]));
  }

  return {
    /** Inserts new keys and returns the row holding each key, in the input's order. */
    async claim(claims: IntakeClaim[]): Promise<ClaimResult[]> {
      if (claims.length === 0) return [];
      const { rows } = await pool.query<ClaimRow>({
        name: 's2s_intake_claim',
        text: INSERT_SQL,
        values: [
          claims.map((c) => c.appId),
          claims.map((c) => c.idempotencyKey),
          claims.map((c) => c.requestId),
          claims.map((c) => c.bodyHash),
          claims.map((c) => c.deviceKey),
          claims.map((c) => c.kind),
          claims.map((c) => c.acceptedAtMs),
        ],
      });
      const held = new Map(rows.map((r) => [keyOf(r.app_id, r.idempotency_key), r]));
      const missing = claims.filter((c) => !held.has(keyOf(c.appId, c.idempotencyKey)));
      if (missing.length > 0) for (const [k, r] of await lookUp(missing)) held.set(k, r);
      return claims.map((c) => {
        const r = held.get(keyOf(c.appId, c.idempotencyKey));
        if (!r) throw new Error('intake claim found no row for a key it could not insert');
        return {
          requestId: r.request_id,
          bodyHash: r.body_hash,
          produced: r.produced,
          acceptedAtMs: Number(r.accepted_ms),
          inserted: r.request_id === c.requestId.toLowerCase(),
        };
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
