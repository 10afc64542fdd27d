/**
 * Singular's answer → outcome class and typed `SingularAnswer` (partner-apis.md §1.8, S1, S3, S11, S17).
 *
 *   200 + `status:"ok"`                         → success
 *   200 + `status:"error"` + a §1.8 reason      → permanent (fix the request, never resend it as is)
 *   200 + any other error, non-200, no JSON     → retryable (`unreadable` when a 200 could not be read:
 *                                                  Singular may have acted on it)
 *   414 / 431                                   → permanent: the same bytes can never pass (S21)
 */
import type { SingularAnswer } from '@s2s/contracts';
import { readJsonObject } from '../answer-json.js';

export type SingularOutcome =
  | { outcome: 'success'; answer: SingularAnswer }
  | { outcome: 'permanent'; reason: string }
  | { outcome: 'retryable'; reason: string; unreadable?: true };

/** The known permanent reasons of §1.8; matched case-insensitively on the trimmed reason. */
const PERMANENT: readonly RegExp[] = [
  /^missing argument: /i,
  /^invalid platform: /i,
  /^no device id supplied$/i,
  /^platform: .+ should have an? .+ param$/i,
];

export function isPermanentSingularReason(reason: string): boolean {
  const r = reason.trim();
  return PERMANENT.some((re) => re.test(r));
}

const KNOWN: Record<string, keyof Omit<SingularAnswer, 'extra'>> = {
  deferred_deeplink: 'deferredDeeplink',
  deferred_passthrough: 'deferredPassthrough',
  resolved_singular_link: 'resolvedSingularLink',
};

/** Maps a `status:"ok"` body: the three link fields typed, every other field but `status` in `extra`, JSON-encoded. */
export function singularAnswerOf(body: Record<string, unknown>): SingularAnswer {
  const answer: SingularAnswer = { extra: {} };
  for (const [k, v] of Object.entries(body)) {
    if (k === 'status') continue;
    const field = KNOWN[k];
    // S11: absent (or null) fields stay absent; a non-string link is kept, as JSON, in extra.
    if (field && typeof v === 'string') answer[field] = v;
    else if (v !== null && v !== undefined) answer.extra[k] = JSON.stringify(v);
  }
  return answer;
}

/** Classifies one HTTP answer from `/launch` or `/evt`. */
export function parseSingularResponse(status: number, body: string): SingularOutcome {
  // S21: a URL too long for Singular will never pass as is (the POST form variant is the fix).
  if (status === 414 || status === 431) return { outcome: 'permanent', reason: `HTTP ${status}: request too large` };
  if (status !== 200) return { outcome: 'retryable', reason: `HTTP ${status}` };
  const read = readJsonObject(body);
  if ('unreadable' in read) return { outcome: 'retryable', reason: read.unreadable, unreadable: true };
  const obj = read.obj;
  if (obj.status === 'ok') return { outcome: 'success', answer: singularAnswerOf(obj) };
  const reason = typeof obj.reason === 'string' ? obj.reason : `status ${JSON.stringify(obj.status ?? null)}`;
  if (obj.status === 'error' && isPermanentSingularReason(reason)) return { outcome: 'permanent', reason };
  return { outcome: 'retryable', reason };
}
