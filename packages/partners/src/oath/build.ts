/**
 * Canonical install session → Oath `GET /appinstall?bs=<sig>&dp=…&id=…&ai=…&mi=…&it=…&ir=…&ua=…&ip=…&ipv6=…`
 * (partner-apis.md §2.2–§2.4). `bs` comes first and signs `"/appinstall?" + <the query after bs, as
 * sent>` (S-O3): lower-case hex HMAC-SHA256 keyed with the data provider's key as ASCII bytes (S-O4).
 */
import { createHmac } from 'node:crypto';
import type { SessionRecord } from '@s2s/contracts';
import { encodeValue, Query, realId } from '../encoding.js';
import { PartnerInputError } from '../errors.js';

export const OATH_PATH = '/appinstall';

export interface OathRequestInput {
  /** `dp`: data-provider id assigned by Oath. */
  dataProviderId: string;
  /** The per-data-provider authentication key; used only as the HMAC key, never sent. */
  hmacKey: string;
  /** `id`: the relay's request id, stable across retries of one install (S-O13). */
  requestId: string;
}

export interface OathRequest {
  /** `/appinstall?bs=…&…`: append to the base URL. */
  pathAndQuery: string;
  /** The exact bytes signed. Contains no secret. */
  signedMessage: string;
  /** The signature (lower-case hex). Treat as sensitive: it is redacted from reported URLs. */
  bs: string;
}

/** Lower-case hex HMAC-SHA256 of `message` keyed with `key` (ASCII/UTF-8 bytes as given). */
export function signOath(key: string, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('hex');
}

/** S-O7: inside each key and value, `%`, `;` and `=` are percent-encoded before joining, so the list splits back unambiguously. */
function escapeUaPart(s: string): string {
  return s.replace(/[%;=]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** §2.4: `k=v;k=v` (the query encoding then turns it into `k%3Dv%3Bk%3Dv`). */
export function oathUaValue(pairs: Record<string, string> | undefined): string | undefined {
  const entries = Object.entries(pairs ?? {});
  if (entries.length === 0) return undefined;
  return entries.map(([k, v]) => `${escapeUaPart(k)}=${escapeUaPart(v)}`).join(';');
}

/** The query after `bs`, in the order of the spec's template. */
export function oathQuery(r: SessionRecord, input: Pick<OathRequestInput, 'dataProviderId' | 'requestId'>): Query {
  const q = new Query();
  q.add('dp', input.dataProviderId).add('id', input.requestId);
  if (r.platform === 'iOS') {
    if (!r.storeId) throw new PartnerInputError('oath', 'storeId (the numeric App Store id) is required for `ai` on iOS');
    q.add('ai', r.storeId);
    // S-O14: the IDFA only when ATT allows it and it is real; otherwise no `mi` and the install still goes.
    if (r.attStatus === 3) q.add('mi', realId(r.ids.idfa));
  } else {
    q.add('ai', r.bundleId);
    q.add('mi', realId(r.ids.aifa));
  }
  const it = r.firstLaunchMs ?? r.installTimeS * 1000;
  if (!Number.isSafeInteger(it) || String(it).length !== 13)
    throw new PartnerInputError('oath', '`it` must be the first launch in Unix milliseconds (13 digits)');
  q.add('it', it);
  // The referrer exactly as the Play API gave it, encoded once by the query.
  if (r.platform === 'Android') q.add('ir', r.installRef?.referrer);
  q.add('ua', oathUaValue(r.uaPairs));
  // §2.6 GDPR: the IP always goes when known; S-O8: `ipv6=` with an equals sign.
  if (!r.ip && !r.ipv6) throw new PartnerInputError('oath', 'needs the device IP (ip or ipv6) for GDPR');
  q.add('ip', r.ip).add('ipv6', r.ipv6);
  return q;
}

/** Builds the signed request. Pure: the same input gives the same bytes and the same `bs`. */
export function buildOathRequest(r: SessionRecord, input: OathRequestInput): OathRequest {
  const query = oathQuery(r, input).toString();
  const signedMessage = `${OATH_PATH}?${query}`;
  const bs = signOath(input.hmacKey, signedMessage);
  return { pathAndQuery: `${OATH_PATH}?bs=${encodeValue(bs)}&${query}`, signedMessage, bs };
}
