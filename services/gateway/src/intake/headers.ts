/**
 * The two request headers of the intake contract.
 *
 * Idempotency key of a record, first present of:
 *   1. the `Idempotency-Key` header (on /v1/batch: the item's `idempotencyKey`, else `<header>#<index>`);
 *   2. the record's `eventId`;
 *   3. `sha256:<body hash>`: the hash of the canonical record (key order does not matter).
 * Same key and same body → the same request id and no second Kafka record; same key and another
 * body → 409. With rule 3, two records with identical content are one record: send an eventId or a
 * timestampMs to keep genuinely repeated sessions apart.
 *
 * `Prefer: wait=N` (RFC 7240): hold the answer up to N seconds for the partners' replies. An
 * unparsable preference is ignored, as the RFC asks.
 */
import { bodyHash } from '@s2s/contracts';
import { GatewayError } from '../errors.js';

const KEY = /^[\x21-\x7e]{1,255}$/;

/** The Idempotency-Key header's value (a structured-field string: quotes are optional), or undefined. */
export function idempotencyHeader(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) throw new GatewayError('BAD_HEADER', 'Idempotency-Key must appear once');
  const v = value.trim().replace(/^"(.*)"$/, '$1');
  if (!KEY.test(v)) throw new GatewayError('BAD_HEADER', 'Idempotency-Key must be 1–255 visible ASCII characters');
  return v;
}

export function idempotencyKeyOf(header: string | undefined, record: { eventId?: string | undefined }, hash: string): string {
  return header ?? record.eventId ?? `sha256:${hash}`;
}

export { bodyHash };

/** Seconds of `wait=N` in the Prefer header(s), or undefined when absent or unparsable. */
export function preferWait(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parts = (Array.isArray(value) ? value.join(',') : value).split(',');
  for (const part of parts) {
    const [pref] = part.split(';');
    const m = /^\s*wait\s*=\s*"?(\d{1,6})"?\s*$/i.exec(pref ?? '');
    if (m) return Number(m[1]);
  }
  return undefined;
}
