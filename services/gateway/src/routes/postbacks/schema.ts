/**
 * The Singular Internal BI postback JSON the relay accepts (POST /v1/postbacks/singular/{app}).
 * Singular's postback body is configured per customer; these are the fields the relay reads, in
 * Singular's snake_case. Any other field is accepted and ignored (never stored).
 *
 *   event_type     "install" | "reengagement" (or "re-engagement") | "event"           required
 *   event_name     the in-app event's name; required when event_type is "event"
 *   event_time     when it happened: Unix seconds, Unix ms, or ISO 8601
 *   postback_id    Singular's id of this postback: the idempotency key (else the body's hash)
 *   platform       "iOS" | "Android" (any case)                                          required
 *   bundle_id      bundle id / package name (informative)
 *   idfa idfv aifa asid andi amid oaid   device ids, formats as the canonical records';
 *                  an all-zero id (e.g. an IDFA without ATT consent) is taken as absent
 *   install_id     the app's installId (UUID), when the app passes it to Singular: the device key
 *                  then matches records keyed by it
 *   custom_user_id the app's user id
 *   network campaign_id campaign_name sub_campaign_id sub_campaign_name creative_id creative_name
 *   site_id site_name click_id is_viewthrough    attribution of an install / re-engagement
 * A device needs the identifier its key is made of: idfv (or install_id) on iOS; asid, andi, oaid,
 * amid or aifa (or install_id) on Android, as the gateway's records (contracts identity.ts).
 */
import { DeviceIds, type FieldError, fieldErrors } from '@s2s/contracts';
import { z } from 'zod';

const ZERO_ID = /^[0-]+$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** A device id: all zeros means "not given". */
const id = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && ZERO_ID.test(v) ? undefined : v), schema);
const attr = z.union([z.string().max(500, 'must be at most 500 characters'), z.number().finite()]).optional();

export const ATTRIBUTION_FIELDS = {
  network: 'network',
  campaign_id: 'campaignId',
  campaign_name: 'campaignName',
  sub_campaign_id: 'subCampaignId',
  sub_campaign_name: 'subCampaignName',
  creative_id: 'creativeId',
  creative_name: 'creativeName',
  site_id: 'siteId',
  site_name: 'siteName',
  click_id: 'clickId',
} as const;

/** Event time → Unix ms: 10-digit numbers are seconds, 13-digit ones milliseconds, strings ISO 8601 (or digits). */
const eventTime = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const n = typeof v === 'number' ? v : /^\d+(\.\d+)?$/.test(v) ? Number(v) : Date.parse(v);
    const ms = n < 1e11 ? n * 1000 : n;
    if (!Number.isFinite(ms) || ms < 946_684_800_000 || ms > 9_999_999_999_999) {
      ctx.addIssue({ code: 'custom', message: 'must be Unix seconds, Unix milliseconds or an ISO 8601 time' });
      return z.NEVER;
    }
    return Math.round(ms);
  })
  .optional();

export const SingularPostback = z.looseObject({
  postback_id: z.string().min(1).max(200, 'must be at most 200 characters').optional(),
  event_type: z.preprocess(
    (v) => (typeof v === 'string' ? v.toLowerCase().replace('re-engagement', 'reengagement') : v),
    z.enum(['install', 'reengagement', 'event'], { message: 'must be install, reengagement or event' }),
  ),
  event_name: z.string().min(1).max(256, 'must be at most 256 characters').optional(),
  event_time: eventTime,
  platform: z.preprocess(
    (v) => (typeof v === 'string' ? (({ ios: 'iOS', android: 'Android' } as Record<string, string>)[v.toLowerCase()] ?? v) : v),
    z.enum(['iOS', 'Android'], { message: 'must be iOS or Android' }),
  ),
  bundle_id: z.string().max(255).optional(),
  idfa: id(DeviceIds.shape.idfa),
  idfv: id(DeviceIds.shape.idfv),
  aifa: id(DeviceIds.shape.aifa),
  asid: id(DeviceIds.shape.asid),
  andi: id(DeviceIds.shape.andi),
  amid: id(DeviceIds.shape.amid),
  oaid: id(DeviceIds.shape.oaid),
  install_id: z.string().regex(UUID, 'must be a UUID (8-4-4-4-12 hex digits)').optional(),
  custom_user_id: z.string().min(1).max(256, 'must be at most 256 characters').optional(),
  ...Object.fromEntries(Object.keys(ATTRIBUTION_FIELDS).map((k) => [k, attr])),
  is_viewthrough: z.union([z.boolean(), z.literal(0), z.literal(1), z.literal('0'), z.literal('1')]).optional(),
});
export type SingularPostback = z.output<typeof SingularPostback>;

/**
 * The rules between fields, read from the raw body so that they are reported together with the
 * fields' own errors (a refinement would run only once every field is valid).
 */
function crossFieldErrors(raw: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  const has = (k: string) => typeof raw[k] === 'string' && raw[k] !== '' && !ZERO_ID.test(raw[k] as string);
  const eventType = typeof raw.event_type === 'string' ? raw.event_type.toLowerCase() : undefined;
  if (eventType === 'event' && !has('event_name'))
    errors.push({ field: 'event_name', message: 'is required when event_type is event' });
  const platform = typeof raw.platform === 'string' ? raw.platform.toLowerCase() : undefined;
  if (platform === 'ios') {
    if (!has('idfv') && !has('install_id'))
      errors.push({ field: 'idfv', message: 'is required on iOS (or install_id): the device key is made of it' });
    for (const k of ['aifa', 'asid', 'andi', 'amid', 'oaid'])
      if (has(k)) errors.push({ field: k, message: 'is an Android identifier' });
  } else if (platform === 'android') {
    if (!['asid', 'andi', 'oaid', 'amid', 'aifa', 'install_id'].some(has))
      errors.push({
        field: 'asid',
        message: 'Android needs asid, andi, oaid, amid or aifa (or install_id): the device key is made of it',
      });
    for (const k of ['idfa', 'idfv']) if (has(k)) errors.push({ field: k, message: 'is an iOS identifier' });
  }
  return errors;
}

/** Validates a postback body: the parsed postback, or every failing field (each field's own error first). */
export function parsePostback(body: unknown): { postback: SingularPostback; errors?: never } | { errors: FieldError[] } {
  const parsed = SingularPostback.safeParse(body);
  const own = parsed.success ? [] : fieldErrors(parsed.error);
  const raw = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const failing = new Set(own.map((e) => e.field));
  const errors = [...own, ...crossFieldErrors(raw).filter((e) => !failing.has(e.field))];
  if (parsed.success && errors.length === 0) return { postback: parsed.data };
  return { errors };
}

/** The attribution fields present, by the relay's names (install / re-engagement postbacks). */
export function attributionOf(p: SingularPostback): Record<string, string | number | boolean> | undefined {
  const out: Record<string, string | number | boolean> = {};
  const raw = p as Record<string, unknown>;
  for (const [from, to] of Object.entries(ATTRIBUTION_FIELDS)) {
    const v = raw[from];
    if (typeof v === 'string' || typeof v === 'number') out[to] = v;
  }
  if (p.is_viewthrough !== undefined) out.viewThrough = p.is_viewthrough === true || String(p.is_viewthrough) === '1';
  return Object.keys(out).length > 0 ? out : undefined;
}
