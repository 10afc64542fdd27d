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
 * Intake (intake.ts) plans a device's records before they enter their lanes; the lanes run them
 * (lanes/). A row claimed ahead of its record's task (by the intake, or by the final statement of
 * the record before it in the lane) is called right away, on the slot reserved for it.
 */
import { type ConsumedRecord, REDRIVE_HEADER } from '@s2s/bus';
import { decodeIngest, type IngestMessage, type Partner, SCHEMA_HEADER } from '@s2s/contracts';
import { createIntake, type IntakeFns } from './intake.js';
import { type Lane, type LaneDeps, type LaneItem, ledgerKeyOf } from './lanes/lane.js';
import { drainLane, runItem } from './lanes/run.js';
import { Abandoned, Semaphore } from './lanes/serial.js';
import type { RuleSettings } from './rules.js';
import { PartitionRuntime } from './runtime.js';

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
  const { intakeOf } = createIntake({ deps, fns: o.intake, rules: o.rules, sems, tracked, persist });

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
