/**
 * What a client sees of a request: its overall status and each partner's reply, shared by
 * GET /v1/requests/{id} and by intake answers under `Prefer: wait`.
 *
 * Status: `pending` (the intake row exists but Kafka has not confirmed it: the client got an error
 * and should retry with the same idempotency key), `accepted` (in Kafka, no partner outcome yet),
 * `parked` (some partner's call waits: an event before its session, or a partner failing), `failed`
 * (some partner ended in the DLQ), `forwarded` (sent to at least one partner), `suppressed`
 * (every partner call was a duplicate or not applicable).
 */
import type { OathAnswer, OnsideAnswer, Outcome, Partner, ReplyMessage, SingularAnswer } from '@s2s/contracts';

export type RequestStatus = 'pending' | 'accepted' | 'parked' | 'failed' | 'forwarded' | 'suppressed';

export interface PartnerReply {
  outcome: Outcome;
  reason?: string;
  inDoubt: boolean;
  at: string;
  answer?: SingularAnswer | OathAnswer | OnsideAnswer;
}

export type RepliesView = Partial<Record<Partner, PartnerReply>>;

export function statusOf(produced: boolean, replies: Iterable<ReplyMessage>): RequestStatus {
  const outcomes = new Set([...replies].map((r) => r.outcome));
  if (outcomes.size === 0) return produced ? 'accepted' : 'pending';
  if (outcomes.has('parked')) return 'parked';
  if (outcomes.has('dlq')) return 'failed';
  if (outcomes.has('forwarded')) return 'forwarded';
  return 'suppressed';
}

export function repliesView(replies: Iterable<ReplyMessage>): RepliesView {
  const out: RepliesView = {};
  for (const r of replies) {
    const v: PartnerReply = { outcome: r.outcome, inDoubt: r.inDoubt, at: new Date(r.atMs).toISOString() };
    if (r.reason) v.reason = r.reason;
    const answer = r[r.partner];
    if (answer) v.answer = answer;
    out[r.partner] = v;
  }
  return out;
}

/** Singular's own answer fields (snake_case, as its /launch answers), for the drop-in routes. */
export function singularFields(reply: ReplyMessage | undefined): Record<string, unknown> {
  const s = reply?.singular;
  if (!s) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.extra ?? {})) {
    try {
      out[k] = JSON.parse(v);
    } catch {
      out[k] = v;
    }
  }
  if (s.deferredDeeplink !== undefined) out.deferred_deeplink = s.deferredDeeplink;
  if (s.deferredPassthrough !== undefined) out.deferred_passthrough = s.deferredPassthrough;
  if (s.resolvedSingularLink !== undefined) out.resolved_singular_link = s.resolvedSingularLink;
  return out;
}
