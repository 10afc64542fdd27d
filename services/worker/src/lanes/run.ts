/**
 * What a lane does with a record from Kafka (`runItem`) and with its parked backlog (`drainLane`).
 *
 * Order within a (device, partner) lane is kept by three rules:
 * - while records wait in Postgres for the lane, a new record queues behind them (parked), except a
 *   Singular session on a lane that only waits for that session: it goes first, then the backlog;
 * - a Singular event of a device whose first session has not been accepted waits (`awaiting_session`),
 *   except in a hybrid app: the Singular SDK sends its sessions, so events go at once, and events
 *   parked before the app switched to hybrid are sent when their lane is drained (not dead-lettered
 *   as `no_session`);
 * - a record whose partner calls keep failing parks the lane with a next attempt time; the scheduler
 *   drains it later, oldest first, on whichever worker owns the device's partition by then.
 */
import { decodeIngest } from '@s2s/contracts';
import { finishDeadLetter, parkItem } from './finish.js';
import { isSingularSession, type Lane, type LaneDeps, type LaneItem, waitsForSession } from './lane.js';
import { backoffMs, send, settle } from './send.js';

function parkDelayMs(deps: LaneDeps, attempts: number): number {
  return backoffMs(attempts, deps.settings.parkBaseMs, deps.settings.parkMaxMs);
}

async function parkLane(deps: LaneDeps, lane: Lane, item: LaneItem, error: string): Promise<void> {
  const { parked } = await deps.parking.laneState(lane.key);
  const attempts = (parked?.attempts ?? 0) + 1;
  const delayMs = parkDelayMs(deps, attempts);
  deps.log.warn({ lane: lane.key, attempts, delayMs, error }, 'partner calls keep failing: lane parked');
  await parkItem(deps, lane, item, 'lane_parked', { delayMs, error });
}

/** A record from Kafka, in lane order. Resolves once it is finished (forwarded, suppressed, parked or dead-lettered). */
export async function runItem(deps: LaneDeps, lane: Lane, item: LaneItem): Promise<void> {
  if (!lane.loaded) await lane.load(deps);
  // Hot path (nothing waits in the lane): `send` claims the row directly and settles only if it is
  // not ready. Otherwise settle first, so that a record already finished is never parked again.
  const mustWait = lane.waiting > 0 || (waitsForSession(lane, item) && !lane.sessionForwarded);
  if (mustWait && (await settle(deps, lane, item)) === 'done') return drainIfReleased(deps, lane, item.hybrid);

  if (lane.waiting > 0) {
    const sessionGoesFirst = isSingularSession(lane, item) && !lane.retryParked && !lane.sessionForwarded;
    if (!sessionGoesFirst) {
      await parkItem(deps, lane, item, lane.retryParked ? 'lane_parked' : 'awaiting_session');
      if (!lane.retryParked && (lane.sessionForwarded || item.hybrid)) await drainLane(deps, lane);
      return;
    }
  }
  if (waitsForSession(lane, item) && !(await lane.sessionIsForwarded(deps))) {
    await parkItem(deps, lane, item, 'awaiting_session');
    return;
  }
  const r = await send(deps, lane, item);
  if (r.kind === 'failing') {
    await parkLane(deps, lane, item, r.error);
    return;
  }
  await drainIfReleased(deps, lane, item.hybrid);
}

/**
 * The first session is in (sent now, or found sent by an earlier owner), or the app is hybrid:
 * release the events that waited for it, in order.
 */
async function drainIfReleased(deps: LaneDeps, lane: Lane, hybrid: boolean): Promise<void> {
  if (lane.waiting > 0 && (lane.sessionForwarded || hybrid) && !lane.retryParked) await drainLane(deps, lane);
}

/**
 * Works through the lane's parked records, oldest first, until none is left (the lane is unparked),
 * a call keeps failing (parked again, later), or events must go on waiting for a session that is
 * not in the backlog.
 */
export async function drainLane(deps: LaneDeps, lane: Lane): Promise<void> {
  const drained: LaneItem[] = [];
  try {
    await drainParked(deps, lane, drained);
  } finally {
    // Parked records are no longer in Kafka: their replies must be out before the drain ends.
    await Promise.all(drained.flatMap((i) => i.replies));
  }
}

async function drainParked(deps: LaneDeps, lane: Lane, drained: LaneItem[]): Promise<void> {
  await lane.load(deps);
  for (;;) {
    const records = await deps.parking.list(lane.key, 100);
    if (records.length === 0) {
      if (lane.retryParked) await deps.parking.unparkLane(lane.key);
      lane.retryParked = false;
      lane.waiting = 0;
      return;
    }
    // The mode as it is now: events parked before a switch to hybrid go instead of waiting on.
    const hybrid = (await deps.apps.get(lane.key.appId))?.mode === 'hybrid';
    // Events that wait for the first session are passed over while looking for that session further
    // on (it may be parked behind them after failed calls); once it is sent, the list is read again
    // from the oldest record, so the events follow it in their order.
    let passedOver = false;
    let sessionSent = false;
    for (const rec of records) {
      // The partition went to another owner (rebalance): it drains the lane from here.
      if (lane.queue.isClosed) return;
      const item: LaneItem = {
        hybrid,
        message: decodeIngest(rec.original, rec.originalSchema),
        original: rec.original,
        originalSchema: rec.originalSchema,
        partition: rec.partition,
        redriveToken: undefined,
        parked: { seq: rec.seq, parkedForMs: rec.parkedForMs },
        replies: [],
        expected: (await deps.ledger.forKey(rec.appId, rec.idemKey)).map((r) => r.partner),
      };
      drained.push(item);
      if ((await settle(deps, lane, item)) === 'done') {
        await deps.parking.remove(rec.seq);
        lane.waiting = Math.max(0, lane.waiting - 1);
        if (passedOver && item.message.kind === 'session') {
          sessionSent = true;
          break;
        }
        continue;
      }
      if (waitsForSession(lane, item) && !(await lane.sessionIsForwarded(deps))) {
        if (rec.parkedForMs >= deps.settings.noSessionTimeoutMs) {
          await finishDeadLetter(deps, lane, item, {
            reason: 'no_session',
            detail: `no session for this device within ${Math.round(deps.settings.noSessionTimeoutMs / 1000)} s`,
            attempts: 0,
            owner: null,
          });
          continue;
        }
        passedOver = true;
        continue;
      }
      // Behind a waiting event only the session it waits for may go first.
      if (passedOver && item.message.kind !== 'session') continue;
      const r = await send(deps, lane, item);
      if (r.kind === 'failing') {
        await parkLane(deps, lane, item, r.error);
        return;
      }
      if (passedOver) {
        sessionSent = true;
        break;
      }
    }
    if (passedOver && !sessionSent) {
      // Nothing to retry: the lane only waits for the device's first session now.
      if (lane.retryParked) await deps.parking.unparkLane(lane.key);
      lane.retryParked = false;
      return;
    }
  }
}
