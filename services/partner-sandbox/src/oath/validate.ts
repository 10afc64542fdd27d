/**
 * Oath `appinstall` field rules (spec §2.2, §2.4, §2.6, §2.7, S-O5..S-O8, S-O14). Missing or
 * malformed required fields are refused with 400 `{"error":"missing <f>"|"malformed <f>"}`;
 * the rest is recorded as warnings.
 */
import { isIPv4, isIPv6 } from 'node:net';

const KNOWN = new Set(['bs', 'dp', 'id', 'ai', 'mi', 'it', 'ir', 'ua', 'ip', 'ipv6']);
const PACKAGE = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$/;
const APP_STORE_ID = /^\d{9}$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export interface InstallCheck {
  error?: string;
  warnings: string[];
  /** No IP at all: an install Oath must not receive (GDPR, §2.6). */
  gdprViolation: boolean;
  /** `ua` pairs as decoded (S-O7). */
  ua?: Record<string, string>;
  /** `mi` is absent or all zeros: the install can match no ad by device ID, only by IP (S-O14). */
  zeroMi: boolean;
}

export function checkInstall(q: Record<string, string>, repeated: string[]): InstallCheck {
  const out: InstallCheck = { warnings: [], gdprViolation: false, zeroMi: false };
  for (const r of repeated) out.warnings.push(`${r}: repeated parameter, the first value is used`);
  for (const k of Object.keys(q)) if (!KNOWN.has(k)) out.warnings.push(`${k}: unknown parameter`);
  if (q.ua !== undefined) out.ua = parseUa(q.ua, out.warnings);
  const has = (k: string) => (q[k] ?? '') !== '';
  const fail = (error: string) => {
    out.error = error;
    return out;
  };

  if (!has('dp')) return fail('missing dp');
  if (!has('id')) return fail('missing id');
  if (!has('ai')) return fail('missing ai');
  const ai = q.ai!;
  if (!APP_STORE_ID.test(ai) && !PACKAGE.test(ai)) return fail('malformed ai');
  // S-O14: every install goes to Oath, also one with no advertising ID (ATT denied, LAT): the relay
  // then leaves `mi` out and Oath can match on the IP only. A present `mi` must be a real UUID.
  if (!has('mi')) {
    out.zeroMi = true;
    out.warnings.push('mi: absent (no advertising ID), only the IP can match');
  } else {
    if (!UUID.test(q.mi!)) return fail('malformed mi');
    out.zeroMi = /^[0-]+$/.test(q.mi!);
    if (out.zeroMi) out.warnings.push('mi: all-zero ID, it matches no ad');
  }
  if (!has('it')) return fail('missing it');
  if (!/^\d{13}$/.test(q.it!)) return fail('malformed it');
  if (!has('ip') && !has('ipv6')) {
    out.gdprViolation = true;
    out.warnings.push('gdpr: install without an IP address');
    return fail('missing ip');
  }
  if (has('ip') && !isIPv4(q.ip!)) return fail('malformed ip');
  if (has('ipv6') && !isIPv6(q.ipv6!)) return fail('malformed ipv6');

  const android = PACKAGE.test(ai);
  if (android && !has('ir')) out.warnings.push('ir: missing on an Android install');
  if (!android && q.ir !== undefined) out.warnings.push('ir: sent for an iOS app');
  if (q.ua === undefined) out.warnings.push('ua: missing (recommended)');
  return out;
}

/**
 * S-O7: the value was URL-decoded once with the query; split on `;`, split each pair on its first
 * `=`, then decode each value (the sender percent-encodes `;`, `=` and `%` inside values).
 */
export function parseUa(value: string, warnings: string[]): Record<string, string> {
  const pairs: Record<string, string> = Object.create(null);
  for (const part of value.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      warnings.push(`ua: "${part.slice(0, 40)}" is not key=value`);
      continue;
    }
    const k = part.slice(0, eq);
    const raw = part.slice(eq + 1);
    let v = raw;
    try {
      v = decodeURIComponent(raw);
    } catch {
      warnings.push(`ua: value of ${k} is not validly percent-encoded`);
    }
    if (k in pairs) warnings.push(`ua: ${k} repeated`);
    pairs[k] = v;
  }
  return pairs;
}
