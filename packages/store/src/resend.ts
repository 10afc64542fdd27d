/**
 * Resend windows: `s2s-relay replay --resend` records one before it rewinds the worker group. A
 * record received (gateway time) inside an unexpired window is forwarded again even though the
 * ledger has it as done, once per ledger row and window (the row remembers the window id).
 */
import type pg from 'pg';

export interface ResendWindow {
  id: number;
  fromMs: number;
  toMs: number;
  note: string | null;
  expiresAt: Date;
}

export function createResendWindows(pool: pg.Pool) {
  return {
    async add({
      fromMs,
      toMs,
      ttlMs,
      note,
    }: {
      fromMs: number;
      toMs: number;
      ttlMs: number;
      note?: string;
    }): Promise<ResendWindow> {
      const { rows } = await pool.query<{ id: string; expires_at: Date }>(
        `INSERT INTO resend_windows (from_ms, to_ms, note, expires_at)
         VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond') RETURNING id, expires_at`,
        [fromMs, toMs, note ?? null, ttlMs],
      );
      const r = rows[0] as { id: string; expires_at: Date };
      return { id: Number(r.id), fromMs, toMs, note: note ?? null, expiresAt: r.expires_at };
    },

    /** Unexpired windows, newest first. */
    async active(): Promise<ResendWindow[]> {
      const { rows } = await pool.query<{ id: string; from_ms: string; to_ms: string; note: string | null; expires_at: Date }>(
        'SELECT id, from_ms, to_ms, note, expires_at FROM resend_windows WHERE expires_at > now() ORDER BY id DESC',
      );
      return rows.map((r) => ({
        id: Number(r.id),
        fromMs: Number(r.from_ms),
        toMs: Number(r.to_ms),
        note: r.note,
        expiresAt: r.expires_at,
      }));
    },
  };
}
export type ResendWindows = ReturnType<typeof createResendWindows>;

/** The newest window covering a record received at `receivedAtMs`, if any. */
export function resendWindowFor(windows: readonly ResendWindow[], receivedAtMs: number): ResendWindow | undefined {
  return windows.find((w) => receivedAtMs >= w.fromMs && receivedAtMs <= w.toMs && w.expiresAt.getTime() > Date.now());
}
