/**
 * Oath's request signature `bs` (spec §2.3, S-O3, S-O4): HMAC-SHA256, lower-case hex, keyed with the
 * data provider's key as ASCII bytes, over `"/appinstall?" + <every byte after "bs=<sig>&">`.
 * The bytes are the raw query from the request line: decoding and re-encoding would change them
 * (`%20` vs `+`, hex case) and hide a client that signs something other than what it sends.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export function oathSignature(key: string, message: string): string {
  return createHmac('sha256', Buffer.from(key, 'ascii')).update(message, 'ascii').digest('hex');
}

export type SignatureCheck = { ok: true; signed: string } | { ok: false; why: string };

/** Checks the raw query string (after `?`) of an `appinstall` request. */
export function verifyOathQuery(rawQuery: string, key: string): SignatureCheck {
  if (!rawQuery.startsWith('bs=')) {
    return { ok: false, why: /(^|&)bs=/.test(rawQuery) ? 'bs is not the first parameter' : 'bs is missing' };
  }
  const amp = rawQuery.indexOf('&');
  const sig = amp < 0 ? rawQuery.slice(3) : rawQuery.slice(3, amp);
  const rest = amp < 0 ? '' : rawQuery.slice(amp + 1);
  if (!/^[0-9a-fA-F]{64}$/.test(sig)) return { ok: false, why: 'bs is not 64 hex digits' };
  const signed = `/appinstall?${rest}`;
  const expected = Buffer.from(oathSignature(key, signed), 'ascii');
  // Hex case is not part of the value (S-O4); equal lengths are guaranteed by the regex above.
  if (!timingSafeEqual(Buffer.from(sig.toLowerCase(), 'ascii'), expected)) return { ok: false, why: 'bs does not match' };
  return { ok: true, signed };
}
