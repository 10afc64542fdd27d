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
 */
import { type ConsumedRecord, REDRIVE_HEADER } from '@s2s/bus';
import { decodeIngest, type IngestMessage, type Partner, SCHEMA_HEADER } from '@s2s/contracts';
import type { DeviceState, IntakeInput, IntakeResult, NewLedgerRow } from '@s2s/store';
import { finishDeadLetter } from './lanes/finish.js';
import { Lane, type LaneDeps, type LaneItem } from './lanes/lane.js';
import { drainLane, runItem } from './lanes/run.js';
import { Abandoned, Semaphore, SerialQueue } from './lanes/serial.js';
import { identifiersOf, planRecord, type RuleSettings } from './rules.js';

class DeviceRuntime {
  readonly intake = new SerialQueue();
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
    this.intake.close();
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
      if (d.active === 0 && !d.intake.size && [...d.lanes.values()].every((l) => l.queue.size === 0 && !l.drainQueued))
        this.devices.delete(k);
  }

  close(): void {
    this.closed = true;
    for (const d of this.devices.values()) d.close();
  }
}

export type IntakeFn = (input: IntakeInput, plan: (device: DeviceState) => NewLedgerRow[]) => Promise<IntakeResult>;

export interface PipelineOptions {
  deps: LaneDeps;
  /** Plans a record against the device graph (`devices.intake`, or its group-committed batch). */
  intake: IntakeFn;
  rules: RuleSettings;
  laneConcurrency: number;
  /** Idle devices kept in memory per partition. */
  deviceCacheSize?: number;
}

export interface Pipeline {
  assigned(partitions: number[], generation: number): void;
  handle(record: ConsumedRecord, ctx: { generation: number }): Promise<void>;
  /** Queues a drain of a parked lane (scheduler); ignored when the partition is not owned here. */
  drain(lane: { appId: string; deviceKey: string; partner: Partner; partition: number }): void;
  /** Lanes with queued or running work. */
  activeLanes(): number;
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

  async function intake(item: LaneItem): Promise<Partner[]> {
    const m = item.message;
    const app = await deps.apps.get(m.appId);
    if (!app) {
      const lane = new Lane({ appId: m.appId, deviceKey: m.deviceKey, partner: 'singular' }, item.partition);
      await finishDeadLetter(deps, lane, item, { reason: 'unknown_app', detail: `no app ${m.appId}`, attempts: 0, owner: null });
      return [];
    }
    const r = m.record;
    const result = await o.intake(
      {
        appId: m.appId,
        deviceKey: m.deviceKey,
        idemKey: m.idempotencyKey,
        platform: r.platform,
        kind: m.kind,
        recordTimeMs: r.timestampMs ?? m.receivedAtMs,
        identifiers: identifiersOf(m),
        consent: { limitDataSharing: r.limitDataSharing, attStatus: r.attStatus, limitAdTracking: r.limitAdTracking },
      },
      (device) => planRecord(m, app, device, o.rules),
    );
    return result.rows.map((row) => row.partner);
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
      if (!rt || rt.generation !== generation) return;
      let message: IngestMessage;
      try {
        message = decodeIngest(record.value, record.headers[SCHEMA_HEADER]);
      } catch (err) {
        await persist(rt, 'dead-letter an undecodable record', () => undecodable(record, err)).catch(() => {});
        return;
      }
      const item: LaneItem = {
        message,
        original: record.value,
        originalSchema: record.headers[SCHEMA_HEADER] ?? '',
        partition: record.partition,
        redriveToken: record.headers[REDRIVE_HEADER],
      };
      const dev = rt.device(message.appId, message.deviceKey);
      dev.active++;
      try {
        const partners = await dev.intake.run(() => persist(rt, 'intake', () => intake(item)));
        await Promise.all(
          partners.map((partner) => {
            const lane = dev.lane(partner);
            return lane.queue.run(() => sems[partner].use(() => persist(rt, 'lane task', () => runItem(deps, lane, item))));
          }),
        );
      } catch (err) {
        if (!(err instanceof Abandoned)) throw err;
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
        .run(() => sems[partner].use(() => persist(rt, 'drain', () => drainLane(deps, lane))))
        .catch((err) => {
          if (!(err instanceof Abandoned)) log.error({ err, lane: lane.key }, 'drain failed');
        })
        .finally(() => {
          lane.drainQueued = false;
        });
    },

    activeLanes() {
      let n = 0;
      for (const rt of runtimes.values())
        for (const d of rt.devices.values()) for (const l of d.lanes.values()) if (l.queue.size > 0) n++;
      return n;
    },
  };
}
