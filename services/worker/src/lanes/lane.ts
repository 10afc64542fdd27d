/**
 * A lane: the ordered stream of one (device, partner). Tasks run one at a time in arrival order
 * (`queue`); the in-memory flags mirror the lane's durable state in Postgres, loaded once when the
 * lane is first used by this owner and kept current by the lane's own tasks (nothing else writes
 * a lane's rows while its partition is owned here).
 */
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
    finish: GroupCommit<FinishItem, undefined>;
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

/** The item's ledger row: (app, the lane's partner, the record's idempotency key). */
export const ledgerKeyOf = (lane: Lane, item: LaneItem): LedgerKey => ({
  appId: item.message.appId,
  partner: lane.key.partner,
  idemKey: item.message.idempotencyKey,
});

/** The record is a session going to Singular: what the device's events wait for, in order. */
export const isSingularSession = (lane: Lane, item: LaneItem): boolean =>
  lane.key.partner === 'singular' && item.message.kind === 'session';

export class Lane {
  readonly queue = new SerialQueue();
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

  async load(deps: LaneDeps): Promise<void> {
    const snap = await deps.batches.lanes.submit(this.key);
    this.retryParked = snap.parked;
    this.waiting = snap.waiting;
    this.sessionForwarded = this.key.partner !== 'singular' || snap.sessionForwarded;
    this.loaded = true;
  }
}
