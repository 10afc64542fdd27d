/**
 * The outcome of each (request, partner) pair: written by workers as they publish to s2s.replies,
 * read by the gateway for GET /v1/requests/{id}. A later outcome replaces an earlier one
 * (parked → forwarded), never the other way round.
 */
import type { Outcome, Partner, ReplyMessage } from '@s2s/contracts';
import type pg from 'pg';

export interface OutcomeRow {
  requestId: string;
  partner: Partner;
  outcome: Outcome;
  reason: string | null;
  inDoubt: boolean;
  reply: ReplyMessage;
  updatedAt: Date;
}

// parked is the only state that moves on; the final ones are never overwritten by parked.
const RANK: Record<Outcome, number> = { parked: 0, forwarded: 1, suppressed: 1, dlq: 1 };

export function createOutcomesRepo(pool: pg.Pool) {
  return {
    async record(reply: ReplyMessage, db: Pick<pg.Pool, 'query'> = pool): Promise<void> {
      await db.query(
        `INSERT INTO request_outcomes (request_id, partner, app_id, device_key, outcome, reason, in_doubt, reply)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (request_id, partner) DO UPDATE SET outcome = EXCLUDED.outcome, reason = EXCLUDED.reason,
           in_doubt = EXCLUDED.in_doubt, reply = EXCLUDED.reply, updated_at = now()
         WHERE $9 >= (CASE request_outcomes.outcome WHEN 'parked' THEN 0 ELSE 1 END)`,
        [
          reply.requestId,
          reply.partner,
          reply.appId,
          reply.deviceKey,
          reply.outcome,
          reply.reason ?? null,
          reply.inDoubt,
          reply,
          RANK[reply.outcome],
        ],
      );
    },

    async forRequest(requestId: string): Promise<OutcomeRow[]> {
      const { rows } = await pool.query<{
        request_id: string;
        partner: Partner;
        outcome: Outcome;
        reason: string | null;
        in_doubt: boolean;
        reply: ReplyMessage;
        updated_at: Date;
      }>(
        'SELECT request_id, partner, outcome, reason, in_doubt, reply, updated_at FROM request_outcomes WHERE request_id = $1 ORDER BY partner',
        [requestId],
      );
      return rows.map((r) => ({
        requestId: r.request_id,
        partner: r.partner,
        outcome: r.outcome,
        reason: r.reason,
        inDoubt: r.in_doubt,
        reply: r.reply,
        updatedAt: r.updated_at,
      }));
    },
  };
}
export type OutcomesRepo = ReturnType<typeof createOutcomesRepo>;
