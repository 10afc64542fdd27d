/**
 * Singular's vocabulary: platforms (spec §1.2, S5), device identifiers (§1.3, S7, S8, S20).
 */

/** Accepted `p` values: the union of the mobile spellings and both PC/console spellings (S5). Case-sensitive. */
export const MOBILE_PLATFORMS = new Set(['Android', 'iOS']);
export const SDID_PLATFORMS = new Set([
  'pc',
  'xbox',
  'playstation',
  'nintendo',
  'metaquest',
  'PC',
  'Xbox',
  'Playstation',
  'Nintendo',
  'MetaQuest',
  'CTV',
  'Web',
]);
export const PC_PLATFORMS = new Set(['pc', 'PC']);

export function isKnownPlatform(p: string): boolean {
  return MOBILE_PLATFORMS.has(p) || SDID_PLATFORMS.has(p);
}

/**
 * Identifier parameters, in the order that picks the device key: the first present one files the
 * request under (app, key). The order puts each platform's "always send" ID first.
 */
export const ID_PARAMS = ['idfv', 'idfa', 'aifa', 'asid', 'andi', 'sdid', 'amid', 'oaid', 'sing'] as const;
export type IdParam = (typeof ID_PARAMS)[number];

/** An all-zero identifier (e.g. the IDFA when ATT is denied) counts as absent (S8). */
export function isZeroId(v: string): boolean {
  return /^[0-]+$/.test(v);
}

export interface DeviceIds {
  /** Present, non-zero IDs by parameter, lower-cased (IDs compare case-insensitively, S20). */
  ids: Partial<Record<IdParam, string>>;
  /** Lower-cased key: the first present ID, or null when none. */
  key: string | null;
  /** Every present ID, lower-cased. */
  all: string[];
  /** Parameters sent with an all-zero value. */
  zeroed: IdParam[];
}

export function readDeviceIds(params: Record<string, string>): DeviceIds {
  const ids: Partial<Record<IdParam, string>> = {};
  const all: string[] = [];
  const zeroed: IdParam[] = [];
  for (const name of ID_PARAMS) {
    const v = params[name]?.trim();
    if (!v) continue;
    if (isZeroId(v)) {
      zeroed.push(name);
      continue;
    }
    const lower = v.toLowerCase();
    ids[name] = lower;
    all.push(lower);
  }
  return { ids, key: all[0] ?? null, all, zeroed };
}

/** Major version of `ve` ("14", "12.1" → 12), or undefined. */
export function majorVersion(ve: string | undefined): number | undefined {
  const m = ve ? /^(\d+)/.exec(ve) : null;
  return m ? Number(m[1]) : undefined;
}
