/**
 * Canonical records → Singular SESSION (`/api/v1/launch`) and EVENT (`/api/v1/evt`) query strings
 * (partner-apis.md §1.2–§1.7). Pure: the same input always gives the same bytes, which the worker's
 * dedupe may rely on. Parameter names are Singular's; the record fields they come from are named in
 * `@s2s/contracts` records.ts.
 */
import type { EventRecord, SessionRecord } from '@s2s/contracts';
import { Query, realId } from '../encoding.js';
import { PartnerInputError } from '../errors.js';

/** Per-app Singular settings. `sdkKey` is a secret: it travels only in `a` and is redacted everywhere else. */
export interface SingularApp {
  sdkKey: string;
  /** The app expects deferred deep links: `ddl_enabled=true` goes on install sessions. */
  ddlEnabled: boolean;
}

export interface SingularCallContext {
  /** When the relay received the record (Unix ms): `umilisec` when the record has no `timestampMs`. */
  receivedAtMs?: number | undefined;
}

export interface SingularSessionContext extends SingularCallContext {
  /** The worker's decision (device graph, S10): first session after an install or reinstall. */
  install: boolean;
}

type Common = SessionRecord | EventRecord;

/** §1.2 and §1.3: the parameters a session and an event share, in a stable order. */
function addCommon(q: Query, r: Common, app: SingularApp, ctx: SingularCallContext): void {
  q.add('a', app.sdkKey).add('p', r.platform).add('i', r.bundleId);
  // S2: IPv4 whenever known; IPv6 only with a country; never use_ip (it would be the relay's own IP).
  if (r.ip) q.add('ip', r.ip);
  else if (r.ipv6 && r.country) q.add('ip', r.ipv6).add('country', r.country);
  else throw new PartnerInputError('singular', 'needs the device IPv4, or its IPv6 with a country');
  q.add('ve', r.osVersion);
  const ids = r.ids;
  if (r.platform === 'iOS') {
    // S8: idfa only when ATT authorises it and it is a real id; never zeros.
    if (r.attStatus === 3) q.add('idfa', realId(ids.idfa));
    q.add('idfv', realId(ids.idfv));
    // Always required on iOS; 0 = the app never asked (§1.2).
    q.add('att_authorization_status', r.attStatus ?? 0);
  } else {
    const aifa = realId(ids.aifa);
    const asid = realId(ids.asid);
    q.add('aifa', aifa).add('asid', asid).add('amid', realId(ids.amid)).add('oaid', realId(ids.oaid));
    // Google policy: no Android ID next to a Play id (§1.3).
    if (!aifa && !asid) q.add('andi', realId(ids.andi));
  }
  if (r.make && r.model) q.add('ma', r.make).add('mo', r.model);
  q.add('lc', r.locale).add('bd', r.osBuild).add('app_v', r.appVersion);
  // S9: umilisec only, never utime.
  q.add('umilisec', r.timestampMs ?? ctx.receivedAtMs);
  q.add('custom_user_id', r.customUserId);
  if (r.limitDataSharing !== undefined) q.addJson('data_sharing_options', { limit_data_sharing: r.limitDataSharing });
  if (r.globalProperties && Object.keys(r.globalProperties).length > 0) q.addJson('global_properties', r.globalProperties);
  // S17: SKAdNetwork state forwarded untouched, names and values as the app gave them.
  for (const [k, v] of Object.entries(r.skan ?? {})) q.add(k, v);
  q.add('ua', r.userAgent).add('c', r.connectionType).add('cn', r.carrier);
  if (r.limitAdTracking !== undefined) q.add('dnt', r.limitAdTracking ? 1 : 0);
}

/** SESSION query string (§1.4), without the leading `?`. */
export function buildSingularSessionQuery(r: SessionRecord, app: SingularApp, ctx: SingularSessionContext): string {
  return singularSessionParams(r, app, ctx).toString();
}

export function singularSessionParams(r: SessionRecord, app: SingularApp, ctx: SingularSessionContext): Query {
  const q = new Query();
  addCommon(q, r, app, ctx);
  q.add('install', ctx.install).add('install_time', r.installTimeS).add('update_time', r.updateTimeS);
  q.add('install_source', r.installSource);
  // S21: receipts are never truncated.
  q.add('install_receipt', r.installReceipt);
  if (r.installRef) {
    const ref = r.installRef;
    // §1.5 field names; numbers as numbers (S13); the referrer raw (S14).
    q.addJson('install_ref', {
      referrer: ref.referrer,
      referrer_source: 'service',
      clickTimestampSeconds: ref.clickTimestampSeconds,
      installBeginTimestampSeconds: ref.installBeginTimestampSeconds,
      ...(ref.currentDeviceTimeMs !== undefined ? { current_device_time: ref.currentDeviceTimeMs } : {}),
    });
  }
  if (r.metaRef)
    q.addJson('meta_ref', {
      is_ct: r.metaRef.isCt,
      install_referrer: r.metaRef.installReferrer,
      actual_timestamp: r.metaRef.actualTimestampS,
    });
  q.add('attribution_token', r.attributionToken);
  q.add('openuri', r.openUri);
  if (r.openUri && r.resolveShortLink) q.add('singular_link_resolve_required', true);
  // ddl_enabled goes with install=true only, and only when the app has deferred deep links on.
  if (ctx.install && app.ddlEnabled && r.ddlEnabled !== false) q.add('ddl_enabled', true);
  q.add('n', r.appName);
  q.add('apns_token', r.apnsToken).add('fcm', r.fcmToken);
  return q;
}

export const IAP_EVENT = '__iap__';

/** Singular marks revenue for `__iap__`, for any amount, or when the app says so (§1.6). */
export function isRevenueEvent(r: EventRecord): boolean {
  return r.name === IAP_EVENT || r.amount !== undefined || r.isRevenueEvent === true;
}

/** EVENT query string (§1.6), without the leading `?`. */
export function buildSingularEventQuery(r: EventRecord, app: SingularApp, ctx: SingularCallContext = {}): string {
  return singularEventParams(r, app, ctx).toString();
}

export function singularEventParams(r: EventRecord, app: SingularApp, ctx: SingularCallContext = {}): Query {
  const q = new Query();
  addCommon(q, r, app, ctx);
  q.add('n', r.name);
  if (r.attributes && Object.keys(r.attributes).length > 0) q.addJson('e', r.attributes);
  if (isRevenueEvent(r)) q.add('is_revenue_event', true);
  // S15: amount and currency together or not at all; never a made-up currency.
  if (r.amount !== undefined && r.currency !== undefined) q.add('amt', r.amount).add('cur', r.currency);
  q.add('purchase_receipt', r.purchaseReceipt);
  if (r.platform === 'Android') q.add('receipt_signature', r.receiptSignature);
  q.add('purchase_product_id', r.productId).add('purchase_transaction_id', r.transactionId);
  return q;
}
