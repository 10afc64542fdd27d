/**
 * Filling a record in from the device graph just before its Singular call (pure: tested without
 * Kafka or Postgres).
 *
 * Identifiers. A backend's server-side record often lacks identifiers the device graph learned from
 * the device's other records or from Singular's Internal BI postbacks (e.g. the IDFA the SDK
 * reported). The rule:
 * - only kinds the record does not carry are added; a value the record carries is never replaced;
 * - only the record's platform's kinds: iOS `idfv`, `idfa`; Android `aifa`, `asid`, `amid`, `oaid`,
 *   `andi`; `custom_user_id` is never added (one user may have several devices);
 * - `idfa` only when the record itself says ATT is authorized (`attStatus === 3`): a graph IDFA
 *   from an earlier authorization never goes out on a record made without it;
 * - `andi` never next to `aifa` or `asid` (Google Play policy), counting the added ones;
 * - the graph's latest value of a kind (most recently seen) is the one added.
 *
 * Consent. A record without `limitDataSharing` is sent with the device's recorded choice (the
 * Singular client turns it into `data_sharing_options`), so a device that refused sharing is never
 * reported as sharing. A record's own value always wins.
 */
import type { EventRecord, SessionRecord } from '@s2s/contracts';

type Rec = SessionRecord | EventRecord;
type IdKind = keyof Rec['ids'];

const IOS_KINDS: readonly IdKind[] = ['idfv', 'idfa'];
const ANDROID_KINDS: readonly IdKind[] = ['aifa', 'asid', 'amid', 'oaid', 'andi'];

export interface DeviceContext {
  /** Latest value per identifier kind in the device graph. */
  identifiers: Record<string, string>;
  /** The device's recorded consent, if any. */
  limitDataSharing: boolean | undefined;
}

/** The record as Singular gets it; the same object when there is nothing to add. */
export function enrichRecord<R extends Rec>(record: R, ctx: DeviceContext): R {
  const ids: Rec['ids'] = { ...record.ids };
  let changed = false;
  for (const kind of record.platform === 'iOS' ? IOS_KINDS : ANDROID_KINDS) {
    const value = ctx.identifiers[kind];
    if (value === undefined || ids[kind] !== undefined) continue;
    if (kind === 'idfa' && record.attStatus !== 3) continue;
    if (kind === 'andi' && (ids.aifa !== undefined || ids.asid !== undefined)) continue;
    ids[kind] = value;
    changed = true;
  }
  const lds = record.limitDataSharing === undefined ? ctx.limitDataSharing : undefined;
  if (!changed && lds === undefined) return record;
  return { ...record, ids, ...(lds === undefined ? {} : { limitDataSharing: lds }) };
}
