/**
 * Which partners answer a record, from the app's settings and the record itself: what
 * `Prefer: wait` waits for.
 *   session:  Singular (if the app forwards to Singular);
 *             on an install (`install: true`) also Oath (if set up) and, on iOS with an Onside token,
 *             Onside (if enabled). A session whose `install` is left to the device graph waits for
 *             Singular only: the gateway cannot know it is a first session.
 *   event:    Singular.
 * The workers know better: every reply carries `expected`, the partners the worker sends the record
 * to (an install the device graph decided included). Once a reply with that list has arrived, it
 * replaces the guess above.
 * Waiting ends when each of these has a final outcome (forwarded, suppressed, dlq); `parked` is not
 * final (the record moves on when the blocking condition clears).
 */
import type { EventRecord, Outcome, Partner, RecordKind, ReplyMessage, SessionRecord } from '@s2s/contracts';
import type { App } from '@s2s/store';

export function expectedPartners(app: App, kind: RecordKind, record: SessionRecord | EventRecord): Partner[] {
  const out: Partner[] = [];
  if (app.singular) out.push('singular');
  if (kind === 'session') {
    const s = record as SessionRecord;
    if (s.install === true) {
      if (app.oath) out.push('oath');
      if (app.onside && s.platform === 'iOS' && s.onside) out.push('onside');
    }
  }
  return out;
}

export const FINAL: ReadonlySet<Outcome> = new Set(['forwarded', 'suppressed', 'dlq']);

export function isComplete(guess: readonly Partner[], replies: ReadonlyMap<Partner, ReplyMessage>): boolean {
  const told = [...replies.values()].find((r) => r.expected !== undefined)?.expected;
  const expected = told ?? guess;
  return expected.every((p) => {
    const r = replies.get(p);
    return r !== undefined && FINAL.has(r.outcome);
  });
}

/** Whether `next` replaces `current` for one partner: a final outcome is never replaced by `parked`. */
export function supersedes(next: ReplyMessage, current: ReplyMessage | undefined): boolean {
  if (!current) return true;
  if (FINAL.has(current.outcome) && !FINAL.has(next.outcome)) return false;
  if (FINAL.has(next.outcome) && !FINAL.has(current.outcome)) return true;
  return next.atMs >= current.atMs;
}
