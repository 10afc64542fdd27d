/**
 * Retention: what the relay keeps, and for how long. `purgeExpired` deletes (or empties) rows past
 * their retention in batches, so no statement holds many locks, and returns how many it touched per
 * kind (metrics-friendly: one counter per key).
 *
 * Defaults (days), and why:
 *   replies          30  request_outcomes (partners' answers, GET /v1/requests/{id}).
 *   intake           30  the gateway's idempotency log: a client retry after this is a new record.
 *   ledgerPayloads   30  ledger.reply of finished rows (acked) emptied; the row (the dedupe key) stays.
 *   dlq              30  ledger rows in dlq / in_doubt keep their reply this long: ≥ the s2s.dlq topic
 *                        retention (30 days), so `s2s-relay dlq redrive` still finds its row.
 *   ledgerKeys       90  finished ledger rows deleted: dedupe during a replay needs them for at least
 *                        the s2s.ingest retention (7 days) plus the dlq window.
 *   postbacks        30  Internal BI postback dedupe rows (Singular retries for about two hours).
 * Never purged: the device graph (live state), parked records (the worker ends them), `erasures` and
 * `erased_devices` (the audit log and the replay guard; they hold device keys, one-way hashes, only).
 */
import type pg from 'pg';

export interface RetentionDays {
  replies: number;
  intake: number;
  ledgerPayloads: number;
  dlq: number;
  ledgerKeys: number;
  postbacks: number;
}

export const DEFAULT_RETENTION_DAYS: RetentionDays = {
  replies: 30,
  intake: 30,
  ledgerPayloads: 30,
  dlq: 30,
  ledgerKeys: 90,
  postbacks: 30,
};

/** s2s.ingest retention: ledger keys and intake rows must outlive it, or a replay would resend. */
export const INGEST_RETENTION_DAYS = 7;

export interface PurgeOptions extends Partial<RetentionDays> {
  /** Rows per statement (default 5000). */
  batchSize?: number;
  /** The purge's "now" (Unix ms); Date.now() by default (tests pass one). */
  nowMs?: number;
}

export interface PurgeResult {
  replies: number;
  intake: number;
  ledgerPayloads: number;
  dlqPayloads: number;
  ledgerKeys: number;
  postbacks: number;
}

export class RetentionError extends Error {
  readonly code = 'RETENTION_INVALID';
}

/** Checks the settings: whole days ≥ 1, and dedupe keys kept at least as long as Kafka can replay. */
export function retentionOf(o: Partial<RetentionDays> = {}): RetentionDays {
  const days: RetentionDays = { ...DEFAULT_RETENTION_DAYS };
  for (const [k, v] of Object.entries(o) as [keyof RetentionDays, number | undefined][]) if (v !== undefined) days[k] = v;
  for (const [k, v] of Object.entries(days))
    if (!Number.isInteger(v) || v < 1) throw new RetentionError(`${k}: must be a whole number of days ≥ 1 (got ${v})`);
  if (days.ledgerKeys < INGEST_RETENTION_DAYS || days.intake < INGEST_RETENTION_DAYS)
    throw new RetentionError(
      `ledgerKeys and intake must be ≥ ${INGEST_RETENTION_DAYS} days (the s2s.ingest retention), or a replay would resend`,
    );
  if (days.ledgerKeys < Math.max(days.ledgerPayloads, days.dlq))
    throw new RetentionError('ledgerKeys must be ≥ ledgerPayloads and dlq (a row outlives its payload)');
  return days;
}

/** The smallest UUID v7 of a time: every request id made before it sorts below. */
export function uuidV7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

const DAY_MS = 86_400_000;

export async function purgeExpired(pool: Pick<pg.Pool, 'query'>, options: PurgeOptions = {}): Promise<PurgeResult> {
  const days = retentionOf(options);
  const batch = options.batchSize ?? 5000;
  const now = options.nowMs ?? Date.now();
  const cutoff = (d: number) => new Date(now - d * DAY_MS);
  /** Runs a batched statement until it touches fewer rows than the batch; returns the total. */
  const loop = async (sql: string, param: unknown): Promise<number> => {
    let total = 0;
    for (;;) {
      const n = (await pool.query(sql, [param, batch])).rowCount ?? 0;
      total += n;
      if (n < batch) return total;
    }
  };
  // Rows past their keys' retention go first: emptying their payloads would be wasted work.
  // Only finished rows: a ready/pending/sent row is still being worked on, whatever its age.
  const ledgerKeys = await loop(
    `DELETE FROM ledger WHERE ctid IN (
       SELECT ctid FROM ledger WHERE created_at < $1 AND state IN ('acked', 'skipped', 'dlq', 'in_doubt') LIMIT $2)`,
    cutoff(days.ledgerKeys),
  );
  return {
    ledgerKeys,
    replies: await loop(
      `DELETE FROM request_outcomes WHERE ctid IN (
         SELECT ctid FROM request_outcomes WHERE request_id < $1::uuid LIMIT $2)`,
      uuidV7Floor(now - days.replies * DAY_MS),
    ),
    intake: await loop(
      'DELETE FROM intake WHERE ctid IN (SELECT ctid FROM intake WHERE request_id < $1::uuid LIMIT $2)',
      uuidV7Floor(now - days.intake * DAY_MS),
    ),
    ledgerPayloads: await loop(
      `UPDATE ledger SET reply = NULL WHERE ctid IN (
         SELECT ctid FROM ledger WHERE created_at < $1 AND state = 'acked' AND reply IS NOT NULL LIMIT $2)`,
      cutoff(days.ledgerPayloads),
    ),
    dlqPayloads: await loop(
      `UPDATE ledger SET reply = NULL WHERE ctid IN (
         SELECT ctid FROM ledger WHERE created_at < $1 AND state IN ('dlq', 'in_doubt') AND reply IS NOT NULL LIMIT $2)`,
      cutoff(days.dlq),
    ),
    postbacks: await loop(
      'DELETE FROM postbacks WHERE ctid IN (SELECT ctid FROM postbacks WHERE received_at < $1 LIMIT $2)',
      cutoff(days.postbacks),
    ),
  };
}
