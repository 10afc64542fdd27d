/**
 * From a Kafka record to lanes. Per owned partition, records are split by device: each device has
 * an intake queue (one record at a time, in offset order: the device graph and the plan) and one
 * lane per partner (one call at a time, in the same order). Devices and partners run concurrently,
 * bounded per partner by LANE_CONCURRENCY. A record is finished when each of its partner tasks is.
 *
 * On every (re)join the consumer starts a new generation: the runtimes of the previous one are
 * closed (their queued tasks are abandoned, a running call finishes and records its outcome in the
 * ledger) and fresh ones are built for the partitions now owned, whose records Kafka delivers again
 * from the committed offset.
 *
 * Intake also keeps issue 7's rules: a record of a device erased after it was received is dropped
 * before anything is stored about it (`suppressed`, reason `erased`: replays and DLQ re-drives
 * included); a record's `limitDataSharing` is recorded as the device's consent (in the intake
 * transaction, with the record's plan); an item remembers whether its app is hybrid (its Singular
 * events need no session from the relay).
 */
import { type ConsumedRecord, REDRIVE_HEADER } from '@s2s/bus';
import { decodeIngest, type IngestMessage, type Partner, SCHEMA_HEADER } from '@s2s/contracts';
import type { HeldClaim, HeldDevice, IntakeInput, IntakeResult, NewLedgerRow, PlanningState } from '@s2s/store';
import { finishDeadLetter, publishLater, replyFor } from './lanes/finish.js';
import { Lane, type LaneDeps, type LaneItem, ledgerKeyOf, newOwner, waitsForSession } from './lanes/lane.js';
import { drainLane, runItem } from './lanes/run.js';
import { Abandoned, Semaphore } from './lanes/serial.js';
import { identifiersOf, planRecord, type RuleSettings } from './rules.js';

interface IntakeWaiter {
  item: LaneItem;
  resolve: (partners: Partner[]) => void;
  reject: (err: unknown) => void;
}

class DeviceRuntime {
  /** Records waiting for intake, in offset order; while one intake runs, the next ones gather here. */
  readonly intakeWaiting: IntakeWaiter[] = [];
  intakeBusy = false;
  /** The device's state as its last intake here left it: its next records take the held intake. */
  held: HeldDevice | undefined;
  readonly lanes = new Map<Partner, Lane>();
  active = 0;
  constructor(
    readonly appId: string,
    readonly deviceKey: string,
    readonly partition: number,
  ) {}

  lane(partner: Partner): Lane {
    let lane = this.lanes.get(partner);
    if (!lane) {
      lane = new Lane({ appId: this.appId, deviceKey: this.deviceKey, partner }, this.partition);
      this.lanes.set(partner, lane);
    }
    return lane;
  }

  close(): void {
    for (const w of this.intakeWaiting.splice(0)) w.reject(new Abandoned());
    for (const l of this.lanes.values()) l.queue.close();
  }
}

class PartitionRuntime {
  readonly devices = new Map<string, DeviceRuntime>();
  closed = false;
  constructor(
    readonly partition: number,
    readonly generation: number,
  ) {}

  device(appId: string, deviceKey: string): DeviceRuntime {
    const key = `${appId}\u0000${deviceKey}`;
    let d = this.devices.get(key);
    if (!d) {
      d = new DeviceRuntime(appId, deviceKey, this.partition);
      this.devices.set(key, d);
    }
    return d;
  }

  /** Forgets idle devices (their lanes reload from Postgres when used again). */
  sweep(limit: number): void {
    if (this.devices.size <= limit) return;
    for (const [k, d] of this.devices)
      if (d.active === 0 && !d.intakeBusy && [...d.lanes.values()].every((l) => l.queue.size === 0 && !l.drainQueued))
        this.devices.delete(k);
  }

  close(): void {
    this.closed = true;
    for (const d of this.devices.values()) d.close();
  }
}

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

export interface PipelineOptions {
  deps: LaneDeps;
  /** Plans records against the device graph. */
  intake: IntakeFns;
  rules: RuleSettings;
  laneConcurrency: number;
  /** Idle devices kept in memory per partition. */
  deviceCacheSize?: number;
}

export interface Pipeline {
  assigned(partitions: number[], generation: number): void;
  /** Resolves when the record is finished, or `false` when it was abandoned (partition revoked, stopping). */
  handle(record: ConsumedRecord, ctx: { generation: number }): Promise<undefined | false>;
  /** Queues a drain of a parked lane (scheduler); ignored when the partition is not owned here. */
  drain(lane: { appId: string; deviceKey: string; partner: Partner; partition: number }): void;
  /** Lanes with queued or running work. */
  activeLanes(): number;
  /**
   * Graceful stop: abandons queued work (Kafka gives it to the next owner) and resolves once the
   * tasks already running (a partner call and its ledger write) have finished.
   */
  quiesce(): Promise<void>;
}

export function createPipeline(o: PipelineOptions): Pipeline {
  const { deps } = o;
  const log = deps.log.child({ module: 'pipeline' });
  const sems: Record<Partner, Semaphore> = {
    singular: new Semaphore(o.laneConcurrency),
    oath: new Semaphore(o.laneConcurrency),
    onside: new Semaphore(o.laneConcurrency),
  };
  let runtimes = new Map<number, PartitionRuntime>();
  let running = 0;
  const idle: Array<() => void> = [];
  /** Counts a task that has started, so that a graceful stop can wait for it. */
  async function tracked<T>(fn: () => Promise<T>): Promise<T> {
    running++;
    try {
      return await fn();
    } finally {
      running--;
      if (running === 0) for (const f of idle.splice(0)) f();
    }
  }

  /** Retries a task through infrastructure failures (Postgres, Kafka) until it succeeds or its partition goes away. */
  async function persist<T>(rt: PartitionRuntime, what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (rt.closed) throw new Abandoned();
      try {
        return await fn();
      } catch (err) {
        if (err instanceof Abandoned || rt.closed) throw new Abandoned();
        log.error({ err, what, partition: rt.partition, attempt }, 'task failed: retrying');
        await deps.sleep(Math.min(5_000, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * Runs a record in its lane, then each following record whose row its predecessor's final
   * statement claimed (`Lane.ahead`), on the same slot: a claimed row's call is made right away.
   * Those records' own tasks then only wait for what ran here (`Lane.ranAhead`).
   */
  async function runLane(rt: PartitionRuntime, lane: Lane, item: LaneItem): Promise<void> {
    const run = (i: LaneItem) => persist(rt, 'lane task', () => runItem(deps, lane, i));
    try {
      await run(item);
      for (let prev = item; ; ) {
        const next = lane.nextAfter(prev);
        if (!next || !lane.ahead.has(next)) return;
        const ran = run(next);
        lane.ranAhead.set(next, ran);
        // Its failure is its own task's: that task awaits `ran`.
        const ok = await ran.then(
          () => true,
          () => false,
        );
        if (!ok) return;
        prev = next;
      }
    } finally {
      await releaseAhead(lane);
    }
  }

  /**
   * Rows claimed ahead whose records did not get to their call (the partition went away first):
   * released, so that the next owner calls them instead of waiting out a lease and holding a call
   * in doubt that was never made. Nothing else runs in the lane meanwhile (its tasks are serial).
   */
  async function releaseAhead(lane: Lane): Promise<void> {
    for (const [item, { owner }] of lane.ahead) {
      lane.ahead.delete(item);
      await deps.ledger.release(ledgerKeyOf(lane, item), owner).catch((err: unknown) => {
        log.warn({ err, lane: lane.key }, 'could not release a row claimed ahead: its call will count as in doubt');
      });
    }
  }

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
      if (held) done = await o.intake.held({ held, jobs, claim: claimer(rt, dev, itemOf, reserved, false) });
      done ??= await o.intake.full({ jobs, claim: claimer(rt, dev, itemOf, reserved, true) });
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
        plan: (device) => planRecord(m, app, device, o.rules),
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

  async function undecodable(record: ConsumedRecord, err: unknown): Promise<void> {
    log.error({ err, partition: record.partition, offset: record.offset }, 'undecodable record: to the DLQ');
    await deps.publisher.deadLetter({
      requestId: `undecodable-${record.partition}-${record.offset}`,
      appId: 'unknown',
      deviceKey: record.key ?? 'unknown',
      reason: 'undecodable',
      detail: err instanceof Error ? err.message : String(err),
      attempts: 0,
      failedAtMs: deps.now(),
      originalSchema: record.headers[SCHEMA_HEADER] ?? '',
      original: record.value,
    });
  }

  return {
    assigned(partitions, generation) {
      for (const rt of runtimes.values()) rt.close();
      runtimes = new Map(partitions.map((p) => [p, new PartitionRuntime(p, generation)]));
    },

    async handle(record, { generation }) {
      const rt = runtimes.get(record.partition);
      if (!rt || rt.generation !== generation) return false;
      let message: IngestMessage;
      try {
        message = decodeIngest(record.value, record.headers[SCHEMA_HEADER]);
      } catch (err) {
        try {
          await persist(rt, 'dead-letter an undecodable record', () => undecodable(record, err));
          return undefined;
        } catch {
          return false;
        }
      }
      const item: LaneItem = {
        message,
        original: record.value,
        originalSchema: record.headers[SCHEMA_HEADER] ?? '',
        partition: record.partition,
        redriveToken: record.headers[REDRIVE_HEADER],
        replies: [],
        expected: [],
        hybrid: false,
      };
      const dev = rt.device(message.appId, message.deviceKey);
      dev.active++;
      try {
        const partners = await intakeOf(rt, dev, item);
        item.expected = partners;
        await Promise.all(
          partners.map((partner) => {
            const lane = dev.lane(partner);
            return lane.queue
              .run(
                () =>
                  lane.takeRanAhead(item) ??
                  // A row the intake claimed comes with its slot reserved.
                  tracked(() => sems[partner].use(() => runLane(rt, lane, item), lane.ahead.has(item))),
                item,
              )
              .catch(async (err: unknown) => {
                // Its task never ran (the lane closed first): a claim the intake made for it goes back.
                if (lane.ahead.has(item)) {
                  sems[partner].release();
                  await releaseAhead(lane);
                }
                throw err;
              });
          }),
        );
        // Finished only once every reply of the record is on s2s.replies.
        await Promise.all(item.replies);
        return undefined;
      } catch (err) {
        if (!(err instanceof Abandoned)) throw err;
        return false;
      } finally {
        dev.active--;
        rt.sweep(o.deviceCacheSize ?? 20_000);
      }
    },

    drain({ appId, deviceKey, partner, partition }) {
      const rt = runtimes.get(partition);
      if (!rt || rt.closed) return;
      const lane = rt.device(appId, deviceKey).lane(partner);
      if (lane.drainQueued) return;
      lane.drainQueued = true;
      lane.queue
        .run(() => tracked(() => sems[partner].use(() => persist(rt, 'drain', () => drainLane(deps, lane)))))
        .catch((err) => {
          if (!(err instanceof Abandoned)) log.error({ err, lane: lane.key }, 'drain failed');
        })
        .finally(() => {
          lane.drainQueued = false;
        });
    },

    quiesce() {
      for (const rt of runtimes.values()) rt.close();
      return running === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve));
    },

    activeLanes() {
      let n = 0;
      for (const rt of runtimes.values())
        for (const d of rt.devices.values()) for (const l of d.lanes.values()) if (l.queue.size > 0) n++;
      return n;
    },
  };
}
