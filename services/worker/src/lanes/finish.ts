/**
 * How a lane task ends for one (record, partner): forwarded, dead-lettered, held in doubt, or
 * parked. Each writes its durable transition (ledger row, outcome row, device graph, parked rows)
 * in one transaction, then publishes the reply; a dead letter is published before the transition,
 * so that a crash in between repeats it rather than loses it.
 */
import type { DeadLetterMessage, Outcome, ReplyMessage } from '@s2s/contracts';
import { type ClaimItem, type FinishItem, type PoolClient, withTransaction } from '@s2s/store';
import type { PartnerAnswers } from '../partners.js';
import { isSingularSession, type Lane, type LaneDeps, type LaneItem, ledgerKeyOf, newOwner, waitsForSession } from './lane.js';

export function replyFor(
  lane: Lane,
  item: LaneItem,
  outcome: Outcome,
  extra: { reason?: string | undefined; inDoubt?: boolean; answers?: PartnerAnswers | undefined; atMs: number },
): ReplyMessage {
  const m = item.message;
  const reply: ReplyMessage = {
    requestId: m.requestId,
    appId: m.appId,
    deviceKey: m.deviceKey,
    partner: lane.key.partner,
    outcome,
    atMs: extra.atMs,
    inDoubt: extra.inDoubt ?? false,
  };
  if (extra.reason) reply.reason = extra.reason;
  if (item.expected.length > 0) reply.expected = item.expected;
  const a = extra.answers;
  if (a?.singular) reply.singular = a.singular;
  if (a?.oath) reply.oath = a.oath;
  if (a?.onside) reply.onside = a.onside;
  return reply;
}

/**
 * Retries a durable write until Postgres takes it: the partner's answer is only in memory here,
 * so giving up would turn a known outcome into an in-doubt one.
 */
async function untilWritten<T>(deps: LaneDeps, what: string, write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (attempt >= 100) throw err;
      deps.log.error({ err, what, attempt }, 'could not write to Postgres: retrying');
      await deps.sleep(Math.min(5_000, 100 * 2 ** attempt));
    }
  }
}

/** A durable transition in a transaction of its own, retried until Postgres takes it. */
const durably = <T>(deps: LaneDeps, what: string, fn: (db: PoolClient) => Promise<T>): Promise<T> =>
  untilWritten(deps, what, () => withTransaction(deps.pool, fn));

/**
 * Queues the reply on the producer without holding the lane: the next record of the lane may start
 * while Kafka acknowledges this one. The record counts as finished (for the commit) only once its
 * replies are acknowledged: the pipeline awaits `item.replies`.
 */
export function publishLater(deps: LaneDeps, item: LaneItem, reply: ReplyMessage): void {
  item.replies.push(deps.publisher.reply(reply));
}

/** The record's final transition is durable: it leaves the lane's parked count and its reply goes out. */
function answered(deps: LaneDeps, lane: Lane, item: LaneItem, reply: ReplyMessage): void {
  if (item.parked) lane.waiting = Math.max(0, lane.waiting - 1);
  publishLater(deps, item, reply);
}

/**
 * The lane's next record, when it goes straight to its partner call after `item`: its row is claimed
 * in `item`'s final statement. That is a record from Kafka queued right behind `item` (itself from
 * Kafka: a backlog's drain decides record by record), with nothing waiting in the lane and, for a
 * Singular event, the device's first session in (before, or by this very transition).
 */
function nextToClaim(lane: Lane, item: LaneItem, sessionForwarded: boolean): LaneItem | undefined {
  if (item.parked || lane.queue.isClosed || lane.waiting > 0 || lane.retryParked) return undefined;
  const next = lane.nextAfter(item);
  if (!next || (waitsForSession(lane, next) && !lane.sessionForwarded && !sessionForwarded)) return undefined;
  return next;
}

/**
 * A final transition (ledger row, outcome, device graph, parked record) through the group-committed
 * batch, retried until Postgres takes it; then `answered`. The lane's next record is claimed in the
 * same statement when it can go at once (`Lane.ahead`).
 */
async function finishFinal(
  deps: LaneDeps,
  lane: Lane,
  item: LaneItem,
  reply: ReplyMessage,
  t: Pick<FinishItem, 'state' | 'owner'> & Partial<Pick<FinishItem, 'sessionForwarded' | 'installed'>>,
): Promise<void> {
  const next = nextToClaim(lane, item, t.sessionForwarded ?? false);
  const claim: ClaimItem | undefined = next && {
    appId: next.message.appId,
    partner: lane.key.partner,
    idemKey: next.message.idempotencyKey,
    owner: newOwner(deps),
    deviceKey: next.message.deviceKey,
    receivedAtMs: next.message.receivedAtMs,
  };
  // Spelled out rather than spread from ledgerKeyOf: one object shape on the hot path.
  const row: FinishItem = {
    appId: item.message.appId,
    partner: lane.key.partner,
    idemKey: item.message.idempotencyKey,
    deviceKey: item.message.deviceKey,
    state: t.state,
    reply,
    owner: t.owner,
    sessionForwarded: t.sessionForwarded ?? false,
    installed: t.installed ?? false,
    parkedSeq: item.parked?.seq,
    next: claim,
  };
  const claimed = await untilWritten(deps, 'final transition', () => deps.batches.finish.submit(row));
  if (next && claim && claimed) lane.ahead.set(next, { owner: claim.owner, claimed });
  answered(deps, lane, item, reply);
}

export async function finishForwarded(
  deps: LaneDeps,
  lane: Lane,
  item: LaneItem,
  answers: PartnerAnswers,
  owner: string,
  install: boolean,
): Promise<void> {
  const reply = replyFor(lane, item, 'forwarded', { answers, atMs: deps.now() });
  const session = isSingularSession(lane, item);
  await finishFinal(deps, lane, item, reply, { state: 'sent', owner, sessionForwarded: session, installed: install });
  if (session) lane.sessionForwarded = true;
  // A parked record's key went to reply_outbox with its final transition.
  deps.publisher.acked(ledgerKeyOf(lane, item), item.parked !== undefined);
}

export interface DeadLetterInfo {
  reason: string;
  detail?: string | undefined;
  partnerAnswer?: string | undefined;
  attempts: number;
  /** The lease holder finishing its own call (null when the row was not claimed). */
  owner: string | null;
}

/** Publishes the record's dead letter (awaits Kafka's acknowledgement). */
async function publishDeadLetter(deps: LaneDeps, lane: Lane, item: LaneItem, info: Omit<DeadLetterInfo, 'owner'>, now: number) {
  const m = item.message;
  const letter: DeadLetterMessage = {
    requestId: m.requestId,
    appId: m.appId,
    deviceKey: m.deviceKey,
    partner: lane.key.partner,
    reason: info.reason,
    attempts: info.attempts,
    failedAtMs: now,
    originalSchema: item.originalSchema,
    original: item.original,
  };
  if (info.detail) letter.detail = info.detail;
  if (info.partnerAnswer) letter.partnerAnswer = info.partnerAnswer;
  await deps.publisher.deadLetter(letter);
}

export async function finishDeadLetter(deps: LaneDeps, lane: Lane, item: LaneItem, info: DeadLetterInfo): Promise<void> {
  const now = deps.now();
  await publishDeadLetter(deps, lane, item, info, now);
  const reply = replyFor(lane, item, 'dlq', { reason: info.reason, atMs: now });
  await finishFinal(deps, lane, item, reply, { state: 'dlq', owner: info.owner });
}

/**
 * IN_DOUBT_POLICY=hold: the call may or may not have reached the partner, and is not made again.
 * One transaction moves the row from pending to in_doubt with its reply, publishes the dead letter
 * while it holds the row (before the commit: a crash in between leaves the row pending, so the hold
 * and its letter are repeated rather than lost), records the outcome, drops the parked record and,
 * for a first session, marks the device's session as forwarded: it may well have reached Singular,
 * so the device's events go on behind it in the app's order instead of waiting for the next
 * session (which would then reach the partner ahead of them).
 *
 * `owner`: the caller's own call ended in doubt; undefined: an earlier owner's lease expired.
 * False, with nothing written or published, when the row was no longer this call's to settle
 * (another attempt settled or took it meanwhile): the caller looks at the ledger again.
 */
export async function finishInDoubt(
  deps: LaneDeps,
  lane: Lane,
  item: LaneItem,
  info: Omit<DeadLetterInfo, 'owner'>,
  owner: string | undefined,
): Promise<boolean> {
  const m = item.message;
  const now = deps.now();
  const reply = replyFor(lane, item, 'dlq', { reason: info.reason, inDoubt: true, atMs: now });
  const session = isSingularSession(lane, item);
  const made = await durably(deps, 'in-doubt hold', async (db) => {
    if (!(await deps.ledger.holdInDoubt(ledgerKeyOf(lane, item), reply, owner, db))) return false;
    await publishDeadLetter(deps, lane, item, info, now);
    if (session) await deps.devices.markSessionForwarded(m.appId, m.deviceKey, db);
    await deps.outcomes.record(reply, db);
    if (item.parked) await deps.parking.remove(item.parked.seq, db);
    return true;
  });
  if (!made) return false;
  if (session) lane.sessionForwarded = true;
  answered(deps, lane, item, reply);
  return true;
}

/** A decided non-call (session timeout): suppressed with its reason. */
export async function finishSkipped(deps: LaneDeps, lane: Lane, item: LaneItem, reason: string): Promise<void> {
  const reply = replyFor(lane, item, 'suppressed', { reason, atMs: deps.now() });
  await finishFinal(deps, lane, item, reply, { state: 'skipped', owner: null });
}

/**
 * Parks the record durably in its lane (from here it counts as finished for the Kafka commit).
 * `laneDelayMs` parks the lane itself too (its calls kept failing): the scheduler resumes it then.
 */
export async function parkItem(
  deps: LaneDeps,
  lane: Lane,
  item: LaneItem,
  reason: 'awaiting_session' | 'lane_parked',
  laneDelay?: { delayMs: number; error: string },
): Promise<void> {
  const m = item.message;
  const reply = replyFor(lane, item, 'parked', { reason, atMs: deps.now() });
  await durably(deps, 'park', async (db) => {
    if (!item.parked)
      await deps.parking.park(
        {
          ...lane.key,
          partition: item.partition,
          requestId: m.requestId,
          idemKey: m.idempotencyKey,
          reason,
          original: item.original,
          originalSchema: item.originalSchema,
          receivedAtMs: m.receivedAtMs,
        },
        db,
      );
    if (laneDelay) await deps.parking.parkLane(lane.key, item.partition, laneDelay.delayMs, laneDelay.error, db);
    if (!item.parked) await deps.outcomes.record(reply, db);
  });
  if (laneDelay) lane.retryParked = true;
  if (!item.parked) {
    lane.waiting++;
    publishLater(deps, item, reply);
  }
}
