/**
 * Singular's request rules (spec §1.2–§1.9, §1.11, S2, S5–S8, S12, S13).
 *
 * Hard errors, answered in every mode: `missing argument: a|p|i|ip` (ip unless `use_ip` or
 * `country`), `missing argument: n` on evt, `invalid platform: <p>`, `no device ID supplied`.
 * Gaps (the other "Req" rows, the platform ID rules of S7, unparseable JSON values) are warnings,
 * or the error in strict mode. Formats and limits are warnings only.
 *
 * A gap is refused with one of Singular's documented permanent reasons (§1.8), never a made-up
 * text: a client would treat an unknown reason as retryable and send the request again forever.
 * So an unparseable JSON value is `missing argument: <param>` ("a parameter, or its value, is missing").
 */
import { isIPv4, isIPv6 } from 'node:net';
import { type DeviceIds, isKnownPlatform, MOBILE_PLATFORMS, majorVersion, PC_PLATFORMS, SDID_PLATFORMS } from './params.js';

export type Endpoint = 'launch' | 'evt' | 'evt2';

export interface CheckOptions {
  strict: boolean;
  ipv6: 'warn' | 'reject';
}

export interface Verdict {
  error?: string;
  warnings: string[];
}

const JSON_PARAMS = ['e', 'install_ref', 'meta_ref', 'data_sharing_options', 'global_properties'] as const;
const BOOL_PARAMS = ['install', 'ddl_enabled', 'singular_link_resolve_required', 'is_revenue_event', 'use_ip'];
const FORMATS: [string, RegExp, string][] = [
  ['att_authorization_status', /^[0-3]$/, 'must be 0, 1, 2 or 3'],
  ['utime', /^\d{10}$/, 'must be Unix seconds (10 digits)'],
  ['umilisec', /^\d{13}$/, 'must be Unix milliseconds (13 digits)'],
  ['install_time', /^\d{10}$/, 'must be Unix seconds (10 digits)'],
  ['update_time', /^\d{10}$/, 'must be Unix seconds (10 digits)'],
  ['lc', /^[a-z]{2}_[A-Z]{2}$/, 'must be ll_CC'],
  ['country', /^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code'],
  ['cur', /^[A-Z]{3}$/, 'must be an ISO 4217 code'],
  ['amt', /^-?\d+(\.\d+)?$/, 'must be a decimal number'],
  ['c', /^(wifi|carrier)$/, 'must be wifi or carrier'],
  ['dnt', /^[01]$/, 'must be 0 or 1'],
];
const RECEIPTS = ['install_receipt=', 'purchase_receipt='];

class Collector implements Verdict {
  error?: string;
  warnings: string[] = [];
  constructor(private readonly strict: boolean) {}
  warn(w: string) {
    this.warnings.push(w);
  }
  /** A hard error: the request is refused in every mode. */
  fail(reason: string): Verdict {
    this.error ??= reason;
    return this;
  }
  /** A rule the real service may not enforce: the error in strict mode, else a warning. */
  gap(reason: string, warning = reason) {
    if (this.strict && this.error === undefined) this.error = reason;
    else this.warnings.push(warning);
  }
}

export function checkRequest(
  endpoint: Endpoint,
  q: Record<string, string>,
  ids: DeviceIds,
  raw: { query: string; repeated: string[] },
  opts: CheckOptions,
): Verdict {
  const v = new Collector(opts.strict);
  const has = (k: string) => (q[k] ?? '').trim() !== '';
  for (const r of raw.repeated) v.warn(`${r}: repeated parameter, the first value is used`);
  for (const z of ids.zeroed) v.warn(`${z}: all-zero value treated as absent`);

  if (!has('a')) return v.fail('missing argument: a');
  if (!has('p')) return v.fail('missing argument: p');
  const p = q.p!;
  if (!isKnownPlatform(p)) return v.fail(`invalid platform: ${p}`);
  if (!has('i')) return v.fail('missing argument: i');
  if (has('ip')) {
    const ip = q.ip!.trim();
    if (isIPv6(ip)) {
      if (opts.ipv6 === 'reject') return v.fail('missing argument: ip');
      v.warn('ip: IPv6 address (Singular recommends IPv4)');
    } else if (!isIPv4(ip)) v.gap('missing argument: ip', 'ip: not an IP address');
  } else if (q.use_ip === 'true' || has('country')) {
    if (q.use_ip === 'true') {
      v.warn("use_ip: Singular would take the connection's IP, the sender's own rather than the device's");
      if (!has('country')) v.gap('missing argument: country');
    }
  } else return v.fail('missing argument: ip');
  if (endpoint !== 'launch' && !has('n')) return v.fail('missing argument: n');
  if (endpoint === 'evt2' && ids.ids.sdid === undefined) return v.fail('missing argument: sdid');
  if (ids.all.length === 0) return v.fail('no device ID supplied');

  const mobile = MOBILE_PLATFORMS.has(p);
  const ios = p === 'iOS';
  const android = p === 'Android';
  const sdidPlatform = SDID_PLATFORMS.has(p);
  const googlePlay = q.install_source === 'com.android.vending';
  const req = (k: string) => {
    if (!has(k)) v.gap(`missing argument: ${k}`);
  };

  // Identifiers each platform must send (S7).
  if (ios && ids.ids.idfv === undefined) v.gap('platform: iOS should have an idfv param');
  if (sdidPlatform && ids.ids.sdid === undefined) v.gap(`platform: ${p} should have an sdid param`);
  if (android && googlePlay && (majorVersion(q.ve) ?? 0) >= 12 && ids.ids.asid === undefined)
    v.gap('platform: Android should have an asid param');

  // The other "Req" rows of §1.2–§1.6.
  if (mobile) req('ve');
  if (ios) req('att_authorization_status');
  if (sdidPlatform) req('os');
  if (PC_PLATFORMS.has(p)) req('install_source');
  if (endpoint === 'launch') {
    req('install');
    if (sdidPlatform) {
      if (!has('app_v') && !has('av')) v.gap('missing argument: app_v');
    } else req('app_v');
    if (mobile) for (const k of ['ma', 'mo', 'lc', 'bd', 'install_time', 'update_time']) req(k);
    if (ios) req('install_receipt');
    if (android) req('install_source');
    if (android && googlePlay && q.install === 'true') req('install_ref');
    if (q.singular_link_resolve_required === 'true') req('openuri');
  }
  if (!(mobile && endpoint === 'launch') && has('ma') !== has('mo')) v.gap(`missing argument: ${has('ma') ? 'mo' : 'ma'}`);
  if (has('amt') !== has('cur')) v.gap(`missing argument: ${has('amt') ? 'cur' : 'amt'}`);

  for (const k of JSON_PARAMS) if (has(k)) checkJson(v, k, q[k]!);
  checkFormats(v, endpoint, q, ids, raw.query);
  return v;
}

function checkFormats(v: Collector, endpoint: Endpoint, q: Record<string, string>, ids: DeviceIds, rawQuery: string) {
  for (const k of BOOL_PARAMS)
    if (q[k] !== undefined && q[k] !== 'true' && q[k] !== 'false') v.warn(`${k}: must be true or false`);
  for (const [k, re, what] of FORMATS) if (q[k] !== undefined && !re.test(q[k])) v.warn(`${k}: ${what}`);
  if (q.n !== undefined) {
    if (q.n.length > 32) v.warn('n: longer than 32 characters');
    if (!/^[\x20-\x7e]*$/.test(q.n)) v.warn('n: not printable ASCII');
  }
  if (ids.ids.idfa !== undefined && q.att_authorization_status !== '3')
    v.warn('idfa: sent although ATT is not authorized (att_authorization_status is not 3)');
  if (ids.ids.andi !== undefined && (ids.ids.aifa !== undefined || ids.ids.asid !== undefined))
    v.warn('andi: must not be sent with aifa or asid (Google Play policy)');
  if (endpoint === 'launch' && q.ddl_enabled === 'true' && q.install !== 'true')
    v.warn('ddl_enabled: only meaningful on the first session (install=true)');
  if (rawQuery.length > 4000) {
    const counted = rawQuery
      .split('&')
      .filter((s) => !RECEIPTS.some((r) => s.startsWith(r)))
      .join('&').length;
    if (counted > 4000) v.warn(`query: ${counted} characters without receipts (limit 4000)`);
  }
}

function checkJson(v: Collector, k: (typeof JSON_PARAMS)[number], text: string) {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    v.gap(`missing argument: ${k}`, `${k}: not valid JSON`);
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    v.gap(`missing argument: ${k}`, `${k}: not a JSON object`);
    return;
  }
  const obj = value as Record<string, unknown>;
  const entries = Object.entries(obj);
  switch (k) {
    case 'e':
      for (const [key, val] of entries) {
        if (key.length > 255) v.warn(`e: key longer than 255 characters (${key.slice(0, 32)}...)`);
        if (typeof val === 'object' && val !== null) v.warn(`e: value of ${key.slice(0, 64)} is not flat`);
        else if (String(val).length > 500) v.warn(`e: value of ${key.slice(0, 64)} longer than 500 characters`);
      }
      break;
    case 'global_properties':
      if (entries.length > 5) v.warn('global_properties: more than 5 pairs');
      for (const [key, val] of entries)
        if (key.length > 200 || String(val).length > 200)
          v.warn(`global_properties: ${key.slice(0, 64)} longer than 200 characters`);
      break;
    case 'data_sharing_options':
      if (typeof obj.limit_data_sharing !== 'boolean') v.warn('data_sharing_options: limit_data_sharing must be true or false');
      break;
    case 'install_ref':
      if (typeof obj.referrer !== 'string') v.warn('install_ref: referrer missing');
      for (const f of ['clickTimestampSeconds', 'installBeginTimestampSeconds', 'current_device_time']) {
        // S13: numbers, or numbers written as strings, are both accepted.
        const x = obj[f];
        if (x !== undefined && !(typeof x === 'number' || (typeof x === 'string' && /^\d+$/.test(x))))
          v.warn(`install_ref: ${f} is not a number`);
      }
      break;
    case 'meta_ref':
      break;
  }
}
