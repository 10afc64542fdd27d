/**
 * One (record, partner) through the ledger: settle what an earlier delivery already decided
 * (duplicates, redeliveries, resend windows, re-drives), then claim the row's lease and call the
 * partner, with short in-lane retries. The only path to a partner call is a successful claim (or,
 * under IN_DOUBT_POLICY=resend, a counted takeover of an expired lease).
 *
 * Read in the claim's own statement (or, when the row was not claimed in a batch, in a group-committed
 * `sendContextAmong`), before the call: whether the device was erased after the record was received
 * (then no call: `suppressed`, reason `erased`; this closes the race with an erasure that came after
 * intake), and for Singular the device's recorded consent and identifiers the record lacks (enrich.ts).
 */
import { type IngestMessage, RelayError } from '@s2s/contracts';
import { FINAL_STATES, type LedgerPlan, type LedgerRow, resendWindowFor, type SendContext } from '@s2s/store';
import { enrichRecord } from '../enrich.js';
import { classify, type Failure } from '../partners.js';
import { finishDeadLetter, finishForwarded, finishInDoubt, finishSkipped, publishLater, replyFor } from './finish.js';
import { type ClaimedAhead, isSingularSession, type Lane, type LaneDeps, type LaneItem, ledgerKeyOf, newOwner } from './lane.js';

/** Equal jitter: half the exponential step fixed, half random; a partner's Retry-After is honoured up to the cap. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, retryAfterMs?: number, random = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const d = step / 2 + random() * (step / 2);
  return Math.round(retryAfterMs === undefined ? d : Math.max(d, Math.min(retryAfterMs, maxMs)));
}

/** The stable DLQ reason for a permanent failure. */
export function dlqReason(f: Failure): string {
  switch (f.code) {
    case 'PARTNER_REJECTED':
      return 'partner_rejected';
    case 'ONSIDE_VERIFICATION_FAILED':
      return 'verification_failed';
    case 'PARTNER_INPUT_INVALID':
    case 'PARTNER_REQUEST_TOO_LARGE':
      return 'input_invalid';
    default:
      return f.code.toLowerCase();
  }
}

/**
 * Decides from the ledger whether the item still needs a call ('send') or is settled ('done': its
 * reply is published here). Runs before any parking decision.
 */
export async function settle(deps: LaneDeps, lane: Lane, item: LaneItem): Promise<'send' | 'done'> {
  const key = ledgerKeyOf(lane, item);
  const m = item.message;
  for (;;) {
    const row = await deps.ledger.get(key);
    if (!row) throw new Error(`no ledger row for ${key.appId}/${key.partner}/${key.idemKey}`);
    if (row.state === 'ready' || row.state === 'pending') return 'send';
    if (row.state === 'skipped' && row.reply === null) {
      await finishSkipped(deps, lane, item, row.plan.reason ?? 'skipped');
      return 'done';
    }
    if (row.state === 'sent' || row.state === 'acked') {
      const window = resendWindowFor(deps.resendWindows(), m.receivedAtMs);
      if (window && (row.resendWindowId ?? 0) < window.id && (await deps.ledger.reopen(key, { resendWindowId: window.id }))) {
        deps.log.info(
          { requestId: m.requestId, partner: key.partner, window: window.id },
          'resending on purpose (replay --resend)',
        );
        continue;
      }
    }
    if ((row.state === 'dlq' || row.state === 'in_doubt') && item.redriveToken && row.redriveToken !== item.redriveToken) {
      if (await deps.ledger.reopen(key, { redriveToken: item.redriveToken })) {
        deps.log.info({ requestId: m.requestId, partner: key.partner }, 'DLQ re-drive: sending again');
        continue;
      }
      continue;
    }
    await answerSettled(deps, lane, item, row);
    return 'done';
  }
}

/** A finished row met again: the same request (a redelivery) gets its reply again if it may be missing; a repeat is suppressed. */
async function answerSettled(deps: LaneDeps, lane: Lane, item: LaneItem, row: LedgerRow): Promise<void> {
  deps.metrics.duplicates.inc({ partner: lane.key.partner });
  // A session an earlier owner forwarded: this lane's events may go. One it left in doubt counts as
  // forwarded for order too (see finishInDoubt). That owner marked the device in the same
  // transaction; the mark here repairs rows held in doubt by a version that wrote the two apart
  // (an owner could lose the partition between them, and the device's events would then wait on
  // while its next session went ahead of them).
  if (isSingularSession(lane, item)) {
    if (row.state === 'in_doubt') await deps.devices.markSessionForwarded(item.message.appId, item.message.deviceKey);
    if (row.state === 'sent' || row.state === 'acked' || row.state === 'in_doubt') lane.sessionForwarded = true;
  }
  if (row.requestId === item.message.requestId) {
    if (row.state === 'acked' || row.reply === null) return;
    publishLater(deps, item, row.reply);
    if (row.state === 'sent') deps.publisher.acked(ledgerKeyOf(lane, item), true);
    return;
  }
  const answers = row.reply ?? undefined;
  const reply = replyFor(lane, item, 'suppressed', {
    reason: 'duplicate',
    inDoubt: row.state === 'in_doubt',
    answers,
    atMs: deps.now(),
  });
  await deps.outcomes.record(reply);
  publishLater(deps, item, reply);
}

export type SendResult = { kind: 'finished' } | { kind: 'failing'; error: string };

/**
 * Claims the row and calls the partner, retrying retryable failures in the lane a few times. A row
 * claimed ahead (`Lane.ahead`) is used as claimed; it stays there until the call is made, so that a
 * task re-run after an infrastructure failure before the call holds the same lease.
 */
export async function send(deps: LaneDeps, lane: Lane, item: LaneItem): Promise<SendResult> {
  const result = await claimAndCall(deps, lane, item, lane.ahead.get(item));
  lane.ahead.delete(item);
  return result;
}

async function claimAndCall(deps: LaneDeps, lane: Lane, item: LaneItem, ahead: ClaimedAhead | undefined): Promise<SendResult> {
  const s = deps.settings;
  const key = ledgerKeyOf(lane, item);
  const m = item.message;
  const leaseMs = s.partnerTimeoutMs + s.leaseMarginMs;
  const owner = ahead?.owner ?? newOwner(deps);
  // Made on first use: most calls log nothing, and a pino child costs a few µs per record.
  let logger: LaneDeps['log'] | undefined;
  const log = () => {
    logger ??= deps.log.child({ requestId: m.requestId, partner: key.partner });
    return logger;
  };
  let held = ahead !== undefined;
  let plan: LedgerPlan = ahead?.claimed.plan ?? {};
  let attempt = 0;
  let triedBatch = held;
  let checkedAge = false;
  let message: IngestMessage | undefined;
  /** The send context: from the batched claim, else read before the first call. */
  let context: SendContext | undefined = ahead?.claimed.context;

  for (;;) {
    if (!held && attempt === 0 && !triedBatch) {
      // Hot path: a ready row is claimed in a group-committed batch (one statement for many lanes).
      triedBatch = true;
      const claimed = await deps.batches.claim.submit({
        appId: key.appId,
        partner: key.partner,
        idemKey: key.idemKey,
        owner,
        deviceKey: m.deviceKey,
        receivedAtMs: m.receivedAtMs,
      });
      if (claimed) {
        plan = claimed.plan;
        context = claimed.context;
        held = true;
      }
    }
    if (!held) {
      const c = await deps.ledger.claim(key, owner, leaseMs);
      if (c.kind === 'done') {
        // Settled (a repeat, a redelivery) unless a resend window or a re-drive reopened it.
        if ((await settle(deps, lane, item)) === 'send') continue;
        return { kind: 'finished' };
      }
      if (c.kind === 'busy') {
        // Another attempt (an earlier owner of this partition) holds the lease: wait for it to end.
        await deps.sleep(Math.min(250, Math.max(20, c.row.leaseRemainingMs ?? 20)));
        continue;
      }
      if (c.kind === 'expired') {
        if (s.inDoubtPolicy === 'hold') {
          const info = {
            reason: 'in_doubt',
            detail: 'the lease of an earlier call expired before its answer was recorded',
            attempts: c.row.attempts,
          };
          if (!(await finishInDoubt(deps, lane, item, info, undefined))) continue;
          deps.metrics.inDoubt.inc({ partner: key.partner, resolution: 'hold' });
          log().warn({ attempts: c.row.attempts }, 'in-doubt call (lease expired): held, not sent again (IN_DOUBT_POLICY=hold)');
          return { kind: 'finished' };
        }
        const taken = await deps.ledger.takeOverExpired(key, owner, leaseMs);
        if (!taken) continue;
        deps.metrics.inDoubt.inc({ partner: key.partner, resolution: 'resend' });
        log().warn({ attempts: taken.attempts }, 'in-doubt call (lease expired): sending again (IN_DOUBT_POLICY=resend)');
        plan = taken.plan;
      } else plan = c.row.plan;
      held = true;
    }
    if (!checkedAge) {
      checkedAge = true;
      if (deps.now() - m.receivedAtMs > s.maxRecordAgeMs) {
        await finishDeadLetter(deps, lane, item, { reason: 'too_old', attempts: attempt, owner });
        return { kind: 'finished' };
      }
    }

    if (!message) {
      const ctx =
        context ?? (await deps.batches.context.submit({ appId: m.appId, deviceKey: m.deviceKey, receivedAtMs: m.receivedAtMs }));
      if (ctx.erased) {
        log().info('device erased after intake: not sent');
        await finishSkipped(deps, lane, item, 'erased');
        return { kind: 'finished' };
      }
      const record = key.partner === 'singular' ? enrichRecord(m.record, ctx) : m.record;
      // A copy only when the device graph added something.
      message = record === m.record ? m : ({ ...m, record } as IngestMessage);
    }

    const app = await deps.apps.get(m.appId);
    // From here a re-run of the task must not call again under this lease (see `send`).
    lane.ahead.delete(item);
    const t0 = performance.now();
    try {
      if (!app) throw new RelayError('UNKNOWN_APP', `unknown app ${m.appId}`);
      const answers = await deps.partners.call({ partner: key.partner, app, message, install: plan.install ?? false });
      deps.metrics.partnerLatency.observe({ partner: key.partner, result: 'ok' }, (performance.now() - t0) / 1000);
      await finishForwarded(deps, lane, item, answers, owner, (plan.install ?? false) && m.kind === 'session');
      return { kind: 'finished' };
    } catch (err) {
      deps.metrics.partnerLatency.observe({ partner: key.partner, result: 'error' }, (performance.now() - t0) / 1000);
      const f = classify(err);
      attempt++;
      if (!f.retryable) {
        log().warn({ code: f.code, reason: f.reason }, 'permanent failure: to the DLQ');
        await finishDeadLetter(deps, lane, item, {
          reason: dlqReason(f),
          detail: f.message,
          partnerAnswer: f.partnerAnswer,
          attempts: attempt,
          owner,
        });
        return { kind: 'finished' };
      }
      if (f.inDoubt) {
        if (s.inDoubtPolicy === 'hold') {
          const info = { reason: 'in_doubt', detail: f.message, partnerAnswer: f.partnerAnswer, attempts: attempt };
          if (!(await finishInDoubt(deps, lane, item, info, owner))) {
            // Our lease was lost meanwhile and another attempt settled or holds the row: look again.
            held = false;
            continue;
          }
          deps.metrics.inDoubt.inc({ partner: key.partner, resolution: 'hold' });
          log().warn({ code: f.code }, 'in-doubt call: held, not sent again (IN_DOUBT_POLICY=hold)');
          return { kind: 'finished' };
        }
        deps.metrics.inDoubt.inc({ partner: key.partner, resolution: 'resend' });
        log().warn({ code: f.code }, 'in-doubt call: will send again (IN_DOUBT_POLICY=resend)');
        if (!(await deps.ledger.renew(key, owner, leaseMs, true))) held = false;
      } else {
        await deps.ledger.release(key, owner);
        held = false;
      }
      if (attempt > s.retryAttempts) {
        if (held) await deps.ledger.release(key, owner);
        return { kind: 'failing', error: `${f.code}: ${f.message}`.slice(0, 500) };
      }
      deps.metrics.retries.inc({ partner: key.partner });
      await deps.sleep(backoffMs(attempt, s.retryBaseMs, s.retryMaxMs, f.retryAfterMs));
    }
  }
}

export const isFinal = (row: LedgerRow) => FINAL_STATES.includes(row.state);
