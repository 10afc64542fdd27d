/**
 * Realistic device journeys, each record identifiable at the partner: a unique `timestampMs` per
 * record of a device becomes Singular's `umilisec`, so (device id, umilisec) names a Singular call;
 * Oath's `id` is the relay's request id; Onside's `token` is per device.
 *
 * A journey (device time increasing in the order the app produced the records):
 *   S1 install session · E0 event (1 device in 4 sends it before S1: "event before session") ·
 *   E1 event · R1 revenue event · S2 deep-link open (openUri) · E2 · S3 session after a long pause ·
 *   E3 · S4 a session 3 s after E3 (within the session timeout: skipped, `session_timeout`).
 * Partners must see S1 E0 E1 R1 S2 E2 S3 E3 in that order (S4 never).
 */
import {
  type EventRecord,
  exampleAndroidSession,
  exampleEvent,
  exampleIosSession,
  exampleRevenueEvent,
  type Partner,
  type SessionRecord,
} from '@s2s/contracts';

export interface PlannedRecord {
  device: Device;
  label: string;
  kind: 'session' | 'event';
  body: SessionRecord | EventRecord;
  idempotencyKey: string;
  umilisec: number;
  /** Position in the order partners must see the device's records. */
  order: number;
  partners: Partner[];
  /** The worker skips it (session within the session timeout): no partner call expected. */
  skipped: boolean;
}

export interface Device {
  n: number;
  platform: 'iOS' | 'Android';
  /** The id the sandbox files the device under (Singular: first present id, lower-cased). */
  sandboxKey: string;
  onsideToken: string | undefined;
  /** In the order the app sends them. */
  records: PlannedRecord[];
}

// Device time of the journeys: two hours ago, well inside every age limit, never in the future.
const BASE_MS = Date.now() - 2 * 3600_000;

export function makeDevice(n: number, runTag: string, appId: string): Device {
  const ios = n % 2 === 0;
  const session = ios ? exampleIosSession(n, appId) : exampleAndroidSession(n, appId);
  const t0 = BASE_MS + (n % 100_000) * 7;
  const device: Device = {
    n,
    platform: ios ? 'iOS' : 'Android',
    sandboxKey: (ios ? session.ids.idfv : session.ids.aifa)?.toLowerCase() ?? '',
    onsideToken: ios ? `onside-${runTag}-${n}` : undefined,
    records: [],
  };
  const base = { ...session, customUserId: `cu-${runTag}-${n}` };
  const s = (label: string, dt: number, extra: Partial<SessionRecord>): Omit<PlannedRecord, 'order' | 'device'> => {
    const body: SessionRecord = { ...base, ...extra, timestampMs: t0 + dt };
    if (!ios || extra.install !== true) delete body.onside;
    else body.onside = { token: device.onsideToken as string, availableCapacity: 21_489_729_783 };
    const partners: Partner[] = ['singular'];
    if (extra.install === true) partners.push('oath', ...(ios ? (['onside'] as const) : []));
    return { label, kind: 'session', body, idempotencyKey: '', umilisec: t0 + dt, partners, skipped: false };
  };
  const e = (label: string, dt: number, revenue = false): Omit<PlannedRecord, 'order' | 'device'> => {
    const body: EventRecord = revenue
      ? { ...exampleRevenueEvent(base, 0.99 + (n % 50), 'USD'), transactionId: `GPA.${runTag}.${n}` }
      : { ...exampleEvent(base, `fault_${label.toLowerCase()}`), attributes: { step: label, run: runTag } };
    body.customUserId = base.customUserId;
    body.timestampMs = t0 + dt;
    return { label, kind: 'event', body, idempotencyKey: '', umilisec: t0 + dt, partners: ['singular'], skipped: false };
  };
  const inOrder = [
    s('S1', 0, { install: true }),
    e('E0', 500),
    e('E1', 2_000),
    e('R1', 3_000, true),
    s('S2', 10_000, { install: false, openUri: `https://myapp.example.com/promo/${runTag}/${n}` }),
    e('E2', 11_000),
    s('S3', 1_000_000, { install: false }),
    e('E3', 1_001_000),
    { ...s('S4', 1_004_000, { install: false }), skipped: true },
  ].map((r, order) => ({ ...r, order, device, idempotencyKey: `${runTag}-${n}-${r.label}` }));
  // One device in four sends E0 before its first session (it arrives first; the relay parks it).
  const early = n % 4 === 1;
  device.records = early ? [inOrder[1], inOrder[0], ...inOrder.slice(2)].flatMap((r) => (r ? [r] : [])) : inOrder;
  return device;
}
