/**
 * A lane: the ordered stream of one (device, partner). Tasks run one at a time in arrival order
 * (`queue`); the in-memory flags mirror the lane's durable state in Postgres, loaded once when the
 * lane is first used by this owner and kept current by the lane's own tasks (nothing else writes
 * a lane's rows while its partition is owned here).
 */
import { randomUUID } from 'node:crypto';
import type { IngestMessage, Partner } from '@s2s/contracts';
import type { Logger } from '@s2s/logging';
import type {
  ClaimedRow,
  ClaimItem,
  DeviceGraph,
  FinishItem,
  GroupCommit,
  LaneKey,
  LaneSnapshot,
  Ledger,
  LedgerKey,
  OutcomesRepo,
  Parking,
  Pool,
  ResendWindow,
  SendContext,
} from '@s2s/store';
import type { Metrics } from '../metrics.js';
import type { PartnerCaller } from '../partners.js';
import type { Publisher } from '../publisher.js';
import { SerialQueue } from './serial.js';

export interface LaneSettings {
  partnerTimeoutMs: number;
  leaseMarginMs: number;
  retryAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  parkBaseMs: number;
  parkMaxMs: number;
  noSessionTimeoutMs: number;
  maxRecordAgeMs: number;
  inDoubtPolicy: 'hold' | 'resend';
}

export interface LaneDeps {
  pool: Pool;
  ledger: Ledger;
  parking: Parking;
  devices: DeviceGraph;
  outcomes: OutcomesRepo;
  partners: PartnerCaller;
  publisher: Publisher;
  metrics: Metrics;
  log: Logger;
  settings: LaneSettings;
  workerId: string;
  apps: { get(appId: string): Promise<import('@s2s/store').App | undefined> };
  resendWindows(): readonly ResendWindow[];
  /** Group-committed hot-path writes and reads (createGroupCommit in packages/store). */
  batches: {
    /** Claims a ready row and reads the record's send context in the same statement (`claimReady`). */
    claim: GroupCommit<ClaimItem, ClaimedRow | null>;
    /** A final transition; claims the item's `next` row in the same statement (null: no `next`, or not claimed). */
    finish: GroupCommit<FinishItem, ClaimedRow | null>;
    /** Before a partner call whose row was not claimed in a batch: erased?, recorded consent, the device graph's identifiers (`sendContextAmong`). */
    context: GroupCommit<{ appId: string; deviceKey: string; receivedAtMs: number }, SendContext>;
    /** A lane's durable state when an owner first uses it (`laneSnapshots`). */
    lanes: GroupCommit<LaneKey, LaneSnapshot>;
  };
  sleep(ms: number): Promise<void>;
  now(): number;
}

/** One record as a lane sees it: the decoded message and the original bytes (for the DLQ and parking). */
export interface LaneItem {
  message: IngestMessage;
  original: Buffer;
  originalSchema: string;
  partition: number;
  /** Header `s2s-redrive`: a DLQ re-drive the ledger honours once. */
  redriveToken: string | undefined;
  /** The partners the record goes to (from intake): every reply carries them as `expected`. */
  expected: Partner[];
  /** Replies queued on the producer for this record; it is finished once they are acknowledged. */
  replies: Promise<void>[];
  /**
   * The app is hybrid (the Singular SDK sends sessions): Singular events need no session from the
   * relay. Set at intake, and when a parked record is read back (the app may have switched since).
   */
  hybrid: boolean;
  /** Set when the item was read back from the lane's parked records. */
  parked?: { seq: number; parkedForMs: number };
}

/** A lease owner: the worker and one attempt of its own. */
export const newOwner = (deps: Pick<LaneDeps, 'workerId'>): string => `${deps.workerId}:${randomUUID()}`;

/** The item's ledger row: (app, the lane's partner, the record's idempotency key). */
export const ledgerKeyOf = (lane: Lane, item: LaneItem): LedgerKey => ({
  appId: item.message.appId,
  partner: lane.key.partner,
  idemKey: item.message.idempotencyKey,
});

/** The record is a session going to Singular: what the device's events wait for, in order. */
export const isSingularSession = (lane: Lane, item: LaneItem): boolean =>
  lane.key.partner === 'singular' && item.message.kind === 'session';

/** A Singular event that must wait for the device's first session (never in a hybrid app). */
export const waitsForSession = (lane: Lane, item: LaneItem): boolean =>
  lane.key.partner === 'singular' && item.message.kind === 'event' && !item.hybrid;

/** A row claimed for a queued record before its own task started: the lease's owner and what the claim read. */
export interface ClaimedAhead {
  owner: string;
  claimed: ClaimedRow;
}

export class Lane {
  /** The lane's tasks; a task for a record from Kafka is tagged with its item. */
  readonly queue = new SerialQueue<LaneItem>();
  /**
   * Rows claimed ahead for records still queued here (by the previous record's final transition).
   * The lane runs such a record right after the one before it, on the same slot: a claimed row
   * must not wait, since a crash while it waits would leave a call in doubt that was never made.
   */
  readonly ahead = new Map<LaneItem, ClaimedAhead>();
  /** Records of this lane already run after the one before them; their own task only waits for this. */
  readonly ranAhead = new Map<LaneItem, Promise<void>>();
  loaded = false;
  /** A parked_lanes row exists: every record waits until the scheduler resumes the lane. */
  retryParked = false;
  /** Records waiting in parked_records for this lane. */
  waiting = 0;
  /** Singular lanes: the device's first session has been accepted (events may go). */
  sessionForwarded = false;
  drainQueued = false;

  constructor(
    readonly key: LaneKey,
    readonly partition: number,
  ) {}

  /** What ran of `item` ahead of its own task (once: the task takes it). */
  takeRanAhead(item: LaneItem): Promise<void> | undefined {
    const ran = this.ranAhead.get(item);
    this.ranAhead.delete(item);
    return ran;
  }

  /** The record queued right after `item` (or first, when `item` is running), if a record's task comes next. */
  nextAfter(item: LaneItem): LaneItem | undefined {
    const queued = this.queue.queued;
    const at = queued.indexOf(item);
    return queued[at + 1];
  }

  /**
   * Before an event waits for its session: reads whether the session is in after all (another
   * owner of the partition may have forwarded it after this lane was loaded).
   */
  async sessionIsForwarded(deps: LaneDeps): Promise<boolean> {
    if (this.sessionForwarded) return true;
    const device = await deps.devices.get(this.key.appId, this.key.deviceKey);
    this.sessionForwarded = Boolean(device?.sessionForwardedAt);
    return this.sessionForwarded;
  }

  /** The lane of a device that had nothing in Postgres (its intake created it): nothing parked, no session forwarded. */
  assumeEmpty(): void {
    this.retryParked = false;
    this.waiting = 0;
    this.sessionForwarded = this.key.partner !== 'singular';
    this.loaded = true;
  }

  async load(deps: LaneDeps): Promise<void> {
    const snap = await deps.batches.lanes.submit(this.key);
    this.retryParked = snap.parked;
    this.waiting = snap.waiting;
    this.sessionForwarded = this.key.partner !== 'singular' || snap.sessionForwarded;
    this.loaded = true;
  }
}
