/**
 * What a worker keeps in memory per owned partition (one generation of it): the devices seen, each
 * with its intake queue, the state its last intake here left (`held`) and one lane per partner.
 */
import type { Partner } from '@s2s/contracts';
import type { HeldDevice } from '@s2s/store';
import { Lane, type LaneItem } from './lanes/lane.js';
import { Abandoned } from './lanes/serial.js';

export interface IntakeWaiter {
  item: LaneItem;
  resolve: (partners: Partner[]) => void;
  reject: (err: unknown) => void;
}

export class DeviceRuntime {
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

export class PartitionRuntime {
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
