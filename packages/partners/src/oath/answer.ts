/**
 * Oath's answer → outcome class and `OathAnswer` (partner-apis.md §2.5, S-O2, S-O10–S-O12).
 *
 *   2xx + JSON object     → success; no `claims` or `claims: []` = unattributed
 *   429, 5xx              → retryable
 *   any other status      → permanent, with the partner's `error` text when it gave one
 */
import type { OathAnswer, OathClaim } from '@s2s/contracts';
import { readJsonObject } from '../answer-json.js';
import { statusReason } from '../http.js';

export type OathOutcome =
  | { outcome: 'success'; answer: OathAnswer }
  | { outcome: 'permanent'; reason: string }
  | { outcome: 'retryable'; reason: string; unreadable?: true };

const NUMBER_FIELDS = {
  creative_id: 'creativeId',
  adgroup_id: 'adgroupId',
  campaign_id: 'campaignId',
  advertiser_id: 'advertiserId',
  demand_platform_id: 'demandPlatformId',
} as const;
const STRING_FIELDS = {
  creative_name: 'creativeName',
  adgroup_name: 'adgroupName',
  campaign_name: 'campaignName',
  advertiser_name: 'advertiserName',
  site_id: 'siteId',
  ip_address: 'ipAddress',
  campaign_type: 'campaignType',
} as const;

/** A JSON number, or a string of digits some servers send for 64-bit ids. */
function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,15}$/.test(v)) return Number(v);
  return undefined;
}

/** One claim; `timestamp_ms` and `event_type` are required (S-O10), the rest kept when well typed. */
export function oathClaimOf(raw: unknown): OathClaim | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const c = raw as Record<string, unknown>;
  const timestampMs = num(c.timestamp_ms);
  const eventType = num(c.event_type);
  if (timestampMs === undefined || eventType === undefined) return undefined;
  const claim: OathClaim = { timestampMs, eventType };
  for (const [wire, field] of Object.entries(NUMBER_FIELDS)) {
    const v = num(c[wire]);
    if (v !== undefined) claim[field] = v;
  }
  for (const [wire, field] of Object.entries(STRING_FIELDS)) {
    const v = c[wire];
    // campaign_type is an opaque string (S-O10).
    if (typeof v === 'string') claim[field] = v;
  }
  return claim;
}

export function parseOathResponse(status: number, body: string): OathOutcome {
  if (status === 429 || status >= 500) return { outcome: 'retryable', reason: `HTTP ${status}` };
  if (status < 200 || status > 299) return { outcome: 'permanent', reason: statusReason(status, body) };
  const read = readJsonObject(body);
  if ('unreadable' in read) return { outcome: 'retryable', reason: read.unreadable, unreadable: true };
  const obj = read.obj;
  if (obj.claims !== undefined && obj.claims !== null && !Array.isArray(obj.claims))
    return { outcome: 'retryable', reason: '`claims` is not an array', unreadable: true };
  const rawClaims = (obj.claims as unknown[] | null | undefined) ?? [];
  const claims: OathClaim[] = [];
  for (const raw of rawClaims) {
    const c = oathClaimOf(raw);
    if (!c) return { outcome: 'retryable', reason: 'a claim lacks timestamp_ms or event_type', unreadable: true };
    claims.push(c);
  }
  const answer: OathAnswer = { claims };
  if (typeof obj.network_id === 'string') answer.networkId = obj.network_id;
  else if (typeof obj.network_id === 'number') answer.networkId = String(obj.network_id);
  return { outcome: 'success', answer };
}
