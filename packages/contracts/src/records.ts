/**
 * The canonical record model: what an app (through its backend) sends to the gateway, and what
 * travels on `s2s.ingest`. One shape carries everything any partner needs; the partner clients map
 * it to each wire format. The partners keep device data forever, so their rules are enforced here,
 * at the door, as schema refinements with messages that name the field (partner-apis.md §1–§3).
 *
 * Units: `*Ms` fields are Unix milliseconds, `*S` fields Unix seconds. Names are the relay's own;
 * the partner parameter each maps to is in the comment.
 */
import { z } from 'zod';

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));
const ZERO_ID = /^[0-]+$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ASCII = /^[\x20-\x7e]+$/;

const text = (max: number) => z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
const unixS = z
  .number()
  .int()
  .min(946_684_800, 'must be Unix seconds (10 digits)')
  .max(9_999_999_999, 'must be Unix seconds (10 digits)');
const unixMs = z
  .number()
  .int()
  .min(946_684_800_000, 'must be Unix milliseconds (13 digits)')
  .max(9_999_999_999_999, 'must be Unix milliseconds (13 digits)');
const uuid = z.string().regex(UUID, 'must be a UUID (8-4-4-4-12 hex digits)');

export const Platform = z.enum(['iOS', 'Android']);
export type Platform = z.infer<typeof Platform>;

/** Device identifiers, sent exactly as the OS returns them (S20). All-zero values are rejected (S8, S-O14). */
export const DeviceIds = z
  .object({
    /** iOS IDFA (Singular `idfa`, Oath `mi`); only with attStatus 3. */
    idfa: uuid.optional(),
    /** iOS IDFV (Singular `idfv`); always required on iOS. */
    idfv: uuid.optional(),
    /** Google Advertising ID (Singular `aifa`, Oath `mi`). */
    aifa: uuid.optional(),
    /** Google App Set ID (Singular `asid`). */
    asid: uuid.optional(),
    /** Android ID, only for devices without Google Play (Singular `andi`). */
    andi: z
      .string()
      .regex(/^[0-9a-fA-F]{16}$/, 'must be 16 hex digits')
      .optional(),
    /** Amazon Advertising ID (Singular `amid`). */
    amid: uuid.optional(),
    /** Open Advertising ID, Chinese OEMs (Singular `oaid`). */
    oaid: text(100).optional(),
  })
  .strict();
export type DeviceIds = z.infer<typeof DeviceIds>;

/** Google Play Install Referrer (Singular `install_ref`, Oath `ir` = `referrer`). */
export const InstallReferrer = z
  .object({
    referrer: text(4096),
    clickTimestampSeconds: z.number().int().nonnegative(),
    installBeginTimestampSeconds: z.number().int().nonnegative(),
    /** Unix milliseconds (the one millisecond field of install_ref). */
    currentDeviceTimeMs: unixMs.optional(),
  })
  .strict();

/** Meta Install Referrer (Singular `meta_ref`). */
export const MetaReferrer = z
  .object({ isCt: z.union([z.literal(0), z.literal(1)]), installReferrer: text(4096), actualTimestampS: unixS })
  .strict();

/** Onside install attribution (iOS). Either the relay calls Onside (token only) or the app did and sends its JWS. */
export const OnsideInstall = z
  .object({
    /** Random token the client generated for this installation (Onside `token`). */
    token: text(200),
    /** Free disk space in bytes (Onside `availableCapacity`, 64-bit). */
    availableCapacity: z.number().int().nonnegative().optional(),
    /** The compact JWS Onside returned to the app when the app called Onside itself. */
    jws: z
      .string()
      .regex(/^[\w-]+\.[\w-]+\.[\w-]+$/, 'must be a compact JWS (three base64url parts)')
      .optional(),
  })
  .strict();

const attributeValue = z.union([z.string().max(500, 'must be at most 500 characters'), z.number().finite(), z.boolean()]);

/** Fields every record carries. */
const common = {
  /** The relay's app id (the key's app must match, else 403). */
  appId: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, - or _ (max 63)'),
  /** Client-chosen id of this record; the idempotency key when no Idempotency-Key header is sent. */
  eventId: text(128).optional(),
  /**
   * App-generated installation id (UUID kept for the life of the install). When given it is the device
   * key's base; send it on every record of the device or on none.
   */
  installId: uuid.optional(),
  platform: Platform,
  /** Bundle id (iOS) or package name (Android): Singular `i`, Onside `bundle_id`, Oath `ai` on Android. */
  bundleId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/, 'must be a bundle id or package name (reverse-DNS)'),
  /** iOS numeric App Store id (Oath `ai` on iOS). */
  storeId: z
    .string()
    .regex(/^\d{9,10}$/, 'must be the 9 or 10 digit App Store id')
    .optional(),
  /** Singular `app_v`. */
  appVersion: text(64).optional(),
  /** Singular `ve`; Onside `os_version`. */
  osVersion: text(32),
  /** Singular `bd`. */
  osBuild: text(64).optional(),
  /** Singular `ma` (sent only with `mo`). */
  make: text(64).optional(),
  /** Singular `mo`; Onside `device_model`. */
  model: text(64).optional(),
  /** Singular `lc`: language_COUNTRY. */
  locale: z
    .string()
    .regex(/^[a-z]{2}_[A-Z]{2}$/, 'must be ll_CC, e.g. en_US')
    .optional(),
  /** BCP 47 tag (Onside `language`); derived from locale when absent. */
  language: z
    .string()
    .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a BCP 47 tag, e.g. en-US')
    .optional(),
  /** Public IPv4 of the device at the time of the record (Singular `ip`, Oath `ip`, Onside forwarding header). */
  ip: z.ipv4({ message: 'must be a dotted IPv4 address' }).optional(),
  /** Public IPv6 (Oath `ipv6`; Singular only when no IPv4 is known, with `country`). */
  ipv6: z.ipv6({ message: 'must be an IPv6 address' }).optional(),
  /** ISO 3166-1 alpha-2; required by Singular when only IPv6 is known. */
  country: z
    .string()
    .regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code')
    .optional(),
  /** Singular `ua`. */
  userAgent: text(1024).optional(),
  /** Oath `ua` key/value pairs (keys agreed with Oath during onboarding, S-O6). */
  uaPairs: z.record(z.string().min(1).max(64), z.string().max(512)).optional(),
  ids: DeviceIds,
  /** iOS App Tracking Transparency: 0 not determined, 1 restricted, 2 denied, 3 authorized. Required on iOS. */
  attStatus: z.number().int().min(0).max(3).optional(),
  /** Limit-ad-tracking (Singular `dnt`). */
  limitAdTracking: z.boolean().optional(),
  /** Singular `custom_user_id`: no PII, a hash or random id. */
  customUserId: text(256).optional(),
  /** Consent: Singular `data_sharing_options` {"limit_data_sharing": …}; true = the user refused. */
  limitDataSharing: z.boolean().optional(),
  /** Singular `c`. */
  connectionType: z.enum(['wifi', 'carrier']).optional(),
  /** Singular `cn`. */
  carrier: text(64).optional(),
  /** Singular `global_properties`: ≤ 5 pairs, ≤ 200 characters each. */
  globalProperties: z
    .record(
      z.string().min(1).max(200, 'keys must be at most 200 characters'),
      z.string().max(200, 'values must be at most 200 characters'),
    )
    .refine((o) => Object.keys(o).length <= 5, 'at most 5 pairs')
    .optional(),
  /** SKAdNetwork state, forwarded untouched: `skan_*`, `p[0-2]_*`, `prev_fine_value`, `_skerror` (S17). */
  skan: z
    .record(
      z.string().regex(/^(skan_[a-z_]+|p[0-2]_[a-z_]+|prev_fine_value|_skerror)$/, 'not a SKAdNetwork parameter name'),
      z.number().int(),
    )
    .optional(),
  /** When the session or event happened on the device (Singular `umilisec`). Defaults to the time received. */
  timestampMs: unixMs.optional(),
};

export const SessionFields = z
  .object({
    ...common,
    /** Singular `install`: first session after an install or reinstall. Defaults to the device graph's view. */
    install: z.boolean().optional(),
    /** Singular `install_time` (Unix s); required on mobile. */
    installTimeS: unixS,
    /** Singular `update_time` (Unix s); the install time if never updated. */
    updateTimeS: unixS,
    /** Oath `it` (Unix ms): first launch. Defaults to installTimeS × 1000. */
    firstLaunchMs: unixMs.optional(),
    /** Singular `install_source`; required on Android (e.g. com.android.vending). */
    installSource: text(256).optional(),
    /** Singular `install_receipt` (iOS: base64 receipt or AppTransaction JWS); required on iOS. Never truncated. */
    installReceipt: z.string().min(1).max(65_536).optional(),
    /** Singular `install_ref`; required on the first session of a Google Play install. */
    installRef: InstallReferrer.optional(),
    /** Singular `meta_ref`. */
    metaRef: MetaReferrer.optional(),
    /** Apple AdServices token (Singular `attribution_token`); first session after every install. */
    attributionToken: z.string().min(1).max(8192).optional(),
    /** The URL that opened the app (Singular `openuri`); a deep-link open always sends a session. */
    openUri: z.string().min(1).max(4096).url('must be a URL').optional(),
    /** Singular `singular_link_resolve_required`: openUri is a short link to expand. */
    resolveShortLink: z.boolean().optional(),
    /** Singular `ddl_enabled`: the app wants a deferred deep link (first session). */
    ddlEnabled: z.boolean().optional(),
    /** Singular `n` on a session: the app's name. */
    appName: text(128).optional(),
    /** Singular `apns_token` (hex). */
    apnsToken: z
      .string()
      .regex(/^[0-9a-fA-F]{16,400}$/, 'must be a hex APNs token')
      .optional(),
    /** Singular `fcm`. */
    fcmToken: text(4096).optional(),
    /** Onside install attribution (iOS, first launch). */
    onside: OnsideInstall.optional(),
  })
  .strict();

export const EventFields = z
  .object({
    ...common,
    /** Singular `n`: ≤ 32 ASCII characters. */
    name: z.string().min(1, 'must not be empty').max(32, 'must be at most 32 characters').regex(ASCII, 'must be printable ASCII'),
    /** Singular `e`: keys ≤ 255 characters, values ≤ 500 (S12). */
    attributes: z.record(z.string().min(1).max(255, 'keys must be at most 255 characters'), attributeValue).optional(),
    /** Singular `is_revenue_event`. */
    isRevenueEvent: z.boolean().optional(),
    /** Singular `amt` (negative for refunds, S15); always with currency. */
    amount: z.number().finite().min(-1e9, 'must be at least -1,000,000,000').max(1e9, 'must be at most 1,000,000,000').optional(),
    /** Singular `cur`: ISO 4217, upper case. */
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, { message: 'must be an ISO 4217 code in upper case', abort: true })
      .refine((c) => CURRENCIES.has(c), 'is not an ISO 4217 currency')
      .optional(),
    /** Singular `purchase_receipt`. */
    purchaseReceipt: z.string().min(1).max(65_536).optional(),
    /** Singular `receipt_signature` (Android). */
    receiptSignature: z.string().min(1).max(8192).optional(),
    /** Singular `purchase_product_id`. */
    productId: text(256).optional(),
    /** Singular `purchase_transaction_id`. */
    transactionId: text(256).optional(),
  })
  .strict();

type Ctx = z.core.$RefinementCtx;
type CommonShape = {
  platform: Platform;
  ids: DeviceIds;
  attStatus?: number | undefined;
  ip?: string | undefined;
  ipv6?: string | undefined;
  country?: string | undefined;
};

/** Rules shared by sessions and events (partner-apis.md §1.2, §1.3, S2, S7, S8). */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPlatform = (p: unknown): p is Platform => p === 'iOS' || p === 'Android';

/**
 * The cross-field rules run whenever the body is an object, even when some field already failed
 * (zod skips refinements after such failures by default), so one answer lists every failing field.
 * They therefore read fields defensively: a field of the wrong type is reported by the base schema.
 */
const EVERY_OBJECT = { when: (payload: { value: unknown }) => isObject(payload.value) };

function checkDevice(input: CommonShape, ctx: Ctx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const r = { ...input, ids: (isObject(input.ids) ? input.ids : {}) as DeviceIds };
  for (const [k, v] of Object.entries(r.ids)) {
    if (typeof v === 'string' && ZERO_ID.test(v)) issue(['ids', k], 'is all zeros: omit an identifier the OS did not give');
  }
  if (!isPlatform(r.platform)) {
    // The base schema names the platform; the identifier rules depend on it.
  } else if (r.platform === 'iOS') {
    if (!r.ids.idfv) issue(['ids', 'idfv'], 'is required on iOS');
    if (r.attStatus === undefined) issue(['attStatus'], 'is required on iOS (send 0 if the app never asks for tracking)');
    if (r.ids.idfa && r.attStatus !== 3) issue(['ids', 'idfa'], 'must be omitted unless attStatus is 3 (authorized)');
    for (const k of ['aifa', 'asid', 'andi', 'amid', 'oaid'] as const)
      if (r.ids[k]) issue(['ids', k], 'is an Android identifier');
  } else {
    if (!r.ids.aifa && !r.ids.asid && !r.ids.andi && !r.ids.amid && !r.ids.oaid)
      issue(['ids'], 'Android needs asid or aifa (Google Play), amid (Fire) or oaid/andi (no Google Play)');
    if (r.ids.andi && (r.ids.aifa || r.ids.asid))
      issue(['ids', 'andi'], 'must not be sent with aifa or asid (Google Play policy)');
    for (const k of ['idfa', 'idfv'] as const) if (r.ids[k]) issue(['ids', k], 'is an iOS identifier');
    if (r.attStatus !== undefined) issue(['attStatus'], 'is iOS only');
  }
  if (!r.ip && !r.ipv6) issue(['ip'], 'is required (the device public IPv4; ipv6 with country when no IPv4 is known)');
  if (!r.ip && r.ipv6 && !r.country) issue(['country'], 'is required when only ipv6 is given (Singular matches on IPv4)');
}

export const SessionRecord = SessionFields.superRefine((r, ctx) => {
  checkDevice(r, ctx);
  const issue = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  for (const k of ['appVersion', 'make', 'model', 'locale', 'osBuild'] as const)
    if (!r[k]) issue([k], 'is required on a session');
  if (r.updateTimeS < r.installTimeS) issue(['updateTimeS'], 'must not be before installTimeS');
  if (r.resolveShortLink && !r.openUri) issue(['openUri'], 'is required when resolveShortLink is true');
  if (!isPlatform(r.platform)) return;
  if (r.platform === 'Android') {
    if (!r.installSource) issue(['installSource'], 'is required on Android (the installer package, e.g. com.android.vending)');
    if (r.install && r.installSource === 'com.android.vending' && !r.installRef)
      issue(['installRef'], 'is required on the first session of a Google Play install');
    for (const k of ['installReceipt', 'attributionToken', 'apnsToken', 'onside'] as const)
      if (r[k] !== undefined) issue([k], 'is iOS only');
  } else {
    if (!r.installReceipt) issue(['installReceipt'], 'is required on iOS');
    for (const k of ['installSource', 'installRef', 'metaRef', 'fcmToken'] as const)
      if (r[k] !== undefined) issue([k], 'is Android only');
  }
}, EVERY_OBJECT);
export type SessionRecord = z.infer<typeof SessionRecord>;

export const EventRecord = EventFields.superRefine((r, ctx) => {
  checkDevice(r, ctx);
  const issue = (path: string[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if ((r.amount === undefined) !== (r.currency === undefined))
    issue([r.amount === undefined ? 'amount' : 'currency'], 'amount and currency go together (never make up a currency)');
  if (r.receiptSignature && r.platform !== 'Android') issue(['receiptSignature'], 'is Android only');
}, EVERY_OBJECT);
export type EventRecord = z.infer<typeof EventRecord>;

export type RecordKind = 'session' | 'event';
export type CanonicalRecord = { kind: 'session'; record: SessionRecord } | { kind: 'event'; record: EventRecord };

/** Path and message of every failing field, for problem+json answers. */
export interface FieldError {
  field: string;
  message: string;
}

export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({
    field: i.path.length ? i.path.map(String).join('.') : '(body)',
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
}

/** The BCP 47 language Onside wants, from `language` or the `ll_CC` locale. */
export function languageOf(r: { language?: string | undefined; locale?: string | undefined }): string | undefined {
  return r.language ?? r.locale?.replace('_', '-');
}
