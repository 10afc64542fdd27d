/**
 * Identity of a record as it enters: request id, device key, idempotency key and body hash.
 *
 * Device key rule (README "Device key"): per app and platform, the first present of
 *   installId (app-generated, kept for the life of the install)
 *   iOS:     idfv (stable per vendor and device; required on iOS)
 *   Android: asid, then andi, then oaid, then amid, then aifa
 * hashed to 32 hex characters. Advertising ids (idfa, aifa) come last or not at all because the user
 * can reset or withhold them: an idfa appearing after ATT consent does not move the device to
 * another key, so its records stay on one partition and one lane.
 */
import { createHash } from 'node:crypto';
import stringify from 'safe-stable-stringify';
import { uuidv7 } from 'uuidv7';
import type { EventRecord, SessionRecord } from './records.js';

type Keyed = Pick<SessionRecord | EventRecord, 'appId' | 'platform' | 'ids' | 'installId'>;

export function deviceBase(r: Keyed): string | undefined {
  if (r.installId) return `install:${r.installId.toLowerCase()}`;
  const ids = r.ids;
  const order = r.platform === 'iOS' ? (['idfv'] as const) : (['asid', 'andi', 'oaid', 'amid', 'aifa'] as const);
  for (const k of order) {
    const v = ids[k];
    if (v) return `${k}:${v.toLowerCase()}`;
  }
  return undefined;
}

/** The Kafka key and lane key of a record's device; undefined only for records validation rejects. */
export function deviceKey(r: Keyed): string | undefined {
  const base = deviceBase(r);
  if (!base) return undefined;
  return createHash('sha256').update(`${r.appId}|${r.platform}|${base}`).digest('hex').slice(0, 32);
}

/** A time-ordered request id (UUID v7): sorts by acceptance time. */
export function newRequestId(): string {
  return uuidv7();
}

/** Hash of a record's content, independent of key order: same body means same hash. */
export function bodyHash(record: unknown): string {
  return createHash('sha256')
    .update(String(stringify(record)))
    .digest('hex');
}
