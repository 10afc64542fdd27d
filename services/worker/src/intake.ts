/**
 * Intake: a device's records, in offset order, are planned against its device graph before they
 * enter their lanes (one intake at a time per device; records that gather while one runs go
 * together next). The held intake (one statement) serves a device whose state this worker holds
 * from its last intake, the full intake (a transaction) the rest; either may claim the first row
 * of an idle lane, so that its call starts as soon as the intake is written.
 *
 * Intake also keeps issue 7's rules: a record of a device erased after it was received is dropped
 * before anything is stored about it (`suppressed`, reason `erased`: replays and DLQ re-drives
 * included); a record's `limitDataSharing` is recorded as the device's consent (with the record's
 * plan); an item remembers whether its app is hybrid (its Singular events need no session from the
 * relay).
 */
import type { Partner } from '@s2s/contracts';
import type { HeldClaim, HeldDevice, IntakeInput, IntakeResult, NewLedgerRow, PlanningState } from '@s2s/store';
import { finishDeadLetter, publishLater, replyFor } from './lanes/finish.js';
import { Lane, type LaneDeps, type LaneItem, newOwner, waitsForSession } from './lanes/lane.js';
import { Abandoned, type Semaphore } from './lanes/serial.js';
import { identifiersOf, planRecord, type RuleSettings } from './rules.js';
import type { DeviceRuntime, PartitionRuntime } from './runtime.js';

export interface IntakeJob {
  input: IntakeInput;
  plan: (device: PlanningState) => NewLedgerRow[];
}

/** What an intake of one device's records gives back. */
export interface DeviceIntake {
  /** The state to plan the device's next records against (undefined: the next intake is a full one). */
  held: HeldDevice | undefined;
  /** One per job, in order. */
  results: IntakeResult[];
  /** Per job, the rows the intake claimed for it. */
  claims?: HeldClaim[][];
  /** The intake created the device's row: nothing of it was in Postgres before. */
  created?: boolean;
}

/**
 * The two ways to plan one device's records, in order (both group-committed in worker.ts): the full
 * intake (a transaction against the device graph), and the held intake (one statement, against the
 * state this worker holds; undefined when it did not apply, see packages/store held-intake.ts).
 */
export interface IntakeFns {
  /** `claim` is asked only for the rows of a device the intake creates. */
  full(device: { jobs: IntakeJob[]; claim: Claimer }): Promise<DeviceIntake>;
  held(device: { held: HeldDevice; jobs: IntakeJob[]; claim: Claimer }): Promise<DeviceIntake | undefined>;
}

/** The owner to claim a planned row for at intake, or undefined to leave it ready. */
export type Claimer = (input: IntakeInput, row: NewLedgerRow) => string | undefined;

export interface IntakeOptions {
  deps: LaneDeps;
  fns: IntakeFns;
  rules: RuleSettings;
  /** The lane slots per partner (the pipeline's): a claim reserves one. */
  sems: Record<Partner, Semaphore>;
  /** Counts a running task (graceful stop waits for it). */
  tracked: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Retries a task through infrastructure failures until it succeeds or the partition goes away. */
  persist: <T>(rt: PartitionRuntime, what: string, fn: () => Promise<T>) => Promise<T>;
}

export function createIntake({ deps, fns, rules, sems, tracked, persist }: IntakeOptions) {
  /** Drops a record of an erased device: one reply (suppressed, erased, no answer), nothing stored about the device. */
  async function dropErased(item: LaneItem): Promise<void> {
    const m = item.message;
    item.expected = ['singular'];
    const lane = new Lane({ appId: m.appId, deviceKey: m.deviceKey, partner: 'singular' }, item.partition);
    const reply = replyFor(lane, item, 'suppressed', { reason: 'erased', atMs: deps.now() });
    await deps.outcomes.record(reply);
    publishLater(deps, item, reply);
    await Promise.all(item.replies);
  }

  /**
   * The intake's claims: the first row of each of the device's lanes in the batch, when the lane is
   * idle (nothing queued or running here; nothing waiting in Postgres, which a device the intake
   * creates cannot have; a Singular event's session in) and a lane slot is free, which the claim
   * reserves: the call starts as soon as the intake is written. `reserved` collects what was handed out.
   */
  function claimer(
    rt: PartitionRuntime,
    dev: DeviceRuntime,
    itemOf: Map<IntakeInput, LaneItem>,
    reserved: Partner[],
    created: boolean,
  ): Claimer {
    const seen = new Set<Partner>();
    return (input, row) => {
      if (seen.has(row.partner)) return undefined;
      seen.add(row.partner);
      const item = itemOf.get(input);
      const lane = dev.lanes.get(row.partner);
      if (rt.closed || !item || row.state !== 'ready') return undefined;
      if (lane && (lane.queue.size > 0 || lane.ahead.size > 0)) return undefined;
      if (created) {
        // A new device's first session is not forwarded yet.
        if (row.partner === 'singular' && item.message.kind === 'event' && !item.hybrid) return undefined;
      } else {
        if (!lane?.loaded || lane.waiting > 0 || lane.retryParked) return undefined;
        if (waitsForSession(lane, item) && !lane.sessionForwarded) return undefined;
      }
      if (!sems[row.partner].tryReserve()) return undefined;
      reserved.push(row.partner);
      return newOwner(deps);
    };
  }

  /**
   * Plans a device's records: the held intake when this worker holds the device's state, else (or
   * when it does not apply) the full one. Rows the held intake claimed go to their lanes (`Lane.ahead`).
   */
  async function intakeDevice(
    rt: PartitionRuntime,
    dev: DeviceRuntime,
    jobs: IntakeJob[],
    items: LaneItem[],
  ): Promise<DeviceIntake> {
    const held = dev.held;
    dev.held = undefined;
    const reserved: Partner[] = [];
    const itemOf = new Map(jobs.map((j, n) => [j.input, items[n] as LaneItem]));
    let done: DeviceIntake | undefined;
    try {
      if (held) done = await fns.held({ held, jobs, claim: claimer(rt, dev, itemOf, reserved, false) });
      done ??= await fns.full({ jobs, claim: claimer(rt, dev, itemOf, reserved, true) });
    } finally {
      // A reservation the intake turned into a claim goes to the lane task; the others go back.
      for (const c of done?.claims?.flat() ?? []) {
        const at = reserved.indexOf(c.partner);
        if (at >= 0) reserved.splice(at, 1);
      }
      for (const partner of reserved) sems[partner].release();
    }
    if (done.created) for (const lane of dev.lanes.values()) if (lane.queue.size === 0) lane.assumeEmpty();
    done.claims?.forEach((claims, n) => {
      for (const c of claims) {
        const lane = dev.lane(c.partner);
        if (!lane.loaded) lane.assumeEmpty();
        lane.ahead.set(items[n] as LaneItem, { owner: c.owner, claimed: c.claimed });
      }
    });
    dev.held = done.held;
    return done;
  }

  /**
   * Plans a device's gathered records in one go; records of an erased device are dropped (the
   * intake transaction tells), unknown apps go to the DLQ. Returns each record's partners.
   */
  async function intakeMany(rt: PartitionRuntime, dev: DeviceRuntime, items: LaneItem[]): Promise<Partner[][]> {
    const out: Partner[][] = items.map(() => []);
    const jobs: IntakeJob[] = [];
    const index: number[] = [];
    for (const [k, item] of items.entries()) {
      const m = item.message;
      const app = await deps.apps.get(m.appId);
      if (!app) {
        item.expected = ['singular'];
        const lane = new Lane({ appId: m.appId, deviceKey: m.deviceKey, partner: 'singular' }, item.partition);
        await finishDeadLetter(deps, lane, item, {
          reason: 'unknown_app',
          detail: `no app ${m.appId}`,
          attempts: 0,
          owner: null,
        });
        await Promise.all(item.replies);
        continue;
      }
      item.hybrid = app.mode === 'hybrid';
      const r = m.record;
      jobs.push({
        input: {
          appId: m.appId,
          deviceKey: m.deviceKey,
          idemKey: m.idempotencyKey,
          platform: r.platform,
          kind: m.kind,
          recordTimeMs: r.timestampMs ?? m.receivedAtMs,
          receivedAtMs: m.receivedAtMs,
          identifiers: identifiersOf(m),
          consent: { limitDataSharing: r.limitDataSharing, attStatus: r.attStatus, limitAdTracking: r.limitAdTracking },
          requestId: m.requestId,
        },
        plan: (device) => planRecord(m, app, device, rules),
      });
      index.push(k);
    }
    if (jobs.length === 0) return out;
    const { results } = await intakeDevice(
      rt,
      dev,
      jobs,
      index.map((k) => items[k] as LaneItem),
    );
    for (const [j, result] of results.entries()) {
      const k = index[j] as number;
      if (result.erased) await dropErased(items[k] as LaneItem);
      else out[k] = result.rows.map((row) => row.partner);
    }
    return out;
  }

  /** Queues a record for its device's intake; records that gather while one runs go together next. */
  function intakeOf(rt: PartitionRuntime, dev: DeviceRuntime, item: LaneItem): Promise<Partner[]> {
    return new Promise((resolve, reject) => {
      if (rt.closed) return reject(new Abandoned());
      dev.intakeWaiting.push({ item, resolve, reject });
      void pump(rt, dev);
    });
  }

  async function pump(rt: PartitionRuntime, dev: DeviceRuntime): Promise<void> {
    if (dev.intakeBusy) return;
    dev.intakeBusy = true;
    try {
      while (dev.intakeWaiting.length > 0) {
        const waiters = dev.intakeWaiting.splice(0, 100);
        try {
          const partners = await tracked(() =>
            persist(rt, 'intake', () =>
              intakeMany(
                rt,
                dev,
                waiters.map((w) => w.item),
              ),
            ),
          );
          // Resolved in offset order: the records enter their lanes in that order.
          waiters.forEach((w, i) => {
            w.resolve(partners[i] ?? []);
          });
        } catch (err) {
          for (const w of waiters) w.reject(err);
        }
      }
    } finally {
      dev.intakeBusy = false;
    }
  }

  return { intakeOf };
}
