/**
 * Singular's S2S query parameters (partner-apis.md §1.2–§1.6) → the canonical record, for the drop-in
 * routes GET /api/v1/launch and /api/v1/evt. Conversion errors and, later, the canonical schema's
 * errors are reported under Singular's parameter names, so existing S2S code can be fixed as is.
 *
 * Refused on purpose: `use_ip` (it would be the relay's address, not the device's), the PC/console
 * parameters (`sdid`, `sing`, `os`, `av`, `match_id`: platforms the relay does not serve), any
 * parameter not listed here (nothing the client sent is silently dropped), and a parameter given twice.
 */
import type { FieldError, RecordKind } from '@s2s/contracts';

type Conv = 'str' | 'int' | 'num' | 'bool' | 'json';
type Query = Record<string, string | string[] | undefined>;

/** param → [canonical path, conversion] */
const COMMON: Record<string, [string, Conv]> = {
  p: ['platform', 'str'],
  i: ['bundleId', 'str'],
  ve: ['osVersion', 'str'],
  ma: ['make', 'str'],
  mo: ['model', 'str'],
  lc: ['locale', 'str'],
  bd: ['osBuild', 'str'],
  app_v: ['appVersion', 'str'],
  country: ['country', 'str'],
  ua: ['userAgent', 'str'],
  c: ['connectionType', 'str'],
  cn: ['carrier', 'str'],
  custom_user_id: ['customUserId', 'str'],
  idfa: ['ids.idfa', 'str'],
  idfv: ['ids.idfv', 'str'],
  aifa: ['ids.aifa', 'str'],
  asid: ['ids.asid', 'str'],
  andi: ['ids.andi', 'str'],
  amid: ['ids.amid', 'str'],
  oaid: ['ids.oaid', 'str'],
  att_authorization_status: ['attStatus', 'int'],
  umilisec: ['timestampMs', 'int'],
  global_properties: ['globalProperties', 'json'],
};

const SESSION: Record<string, [string, Conv]> = {
  install: ['install', 'bool'],
  install_time: ['installTimeS', 'int'],
  update_time: ['updateTimeS', 'int'],
  install_source: ['installSource', 'str'],
  install_receipt: ['installReceipt', 'str'],
  attribution_token: ['attributionToken', 'str'],
  openuri: ['openUri', 'str'],
  singular_link_resolve_required: ['resolveShortLink', 'bool'],
  ddl_enabled: ['ddlEnabled', 'bool'],
  n: ['appName', 'str'],
  apns_token: ['apnsToken', 'str'],
  fcm: ['fcmToken', 'str'],
};

const EVENT: Record<string, [string, Conv]> = {
  n: ['name', 'str'],
  e: ['attributes', 'json'],
  is_revenue_event: ['isRevenueEvent', 'bool'],
  amt: ['amount', 'num'],
  cur: ['currency', 'str'],
  purchase_receipt: ['purchaseReceipt', 'str'],
  receipt_signature: ['receiptSignature', 'str'],
  purchase_product_id: ['productId', 'str'],
  purchase_transaction_id: ['transactionId', 'str'],
};

const REFUSED: Record<string, string> = {
  use_ip: "is not supported: the relay's address is not the device's; send ip",
  sdid: 'PC/console platforms are not supported',
  sing: 'PC/console platforms are not supported',
  os: 'PC/console platforms are not supported',
  av: 'PC/console platforms are not supported',
  match_id: 'PC/console platforms are not supported',
};

const SKAN = /^(skan_[a-z_]+|p[0-2]_[a-z_]+|prev_fine_value|_skerror)$/;
const INSTALL_REF_KEYS: Record<string, string> = {
  referrer: 'referrer',
  clickTimestampSeconds: 'clickTimestampSeconds',
  installBeginTimestampSeconds: 'installBeginTimestampSeconds',
  current_device_time: 'currentDeviceTimeMs',
};
const META_REF_KEYS: Record<string, string> = {
  is_ct: 'isCt',
  install_referrer: 'installReferrer',
  actual_timestamp: 'actualTimestampS',
};

export interface Mapped {
  candidate: Record<string, unknown>;
  errors: FieldError[];
  /** Canonical field path → Singular parameter, to report schema errors in Singular's terms. */
  paramOf(field: string): string;
}

function set(target: Record<string, unknown>, path: string, value: unknown) {
  const parts = path.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) {
    o[p] ??= {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1] as string] = value;
}

const INT = /^-?\d{1,16}$/;
const NUM = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

function convert(raw: string, conv: Conv): { value?: unknown; error?: string } {
  switch (conv) {
    case 'str':
      return { value: raw };
    case 'int':
      return INT.test(raw) ? { value: Number(raw) } : { error: 'must be an integer' };
    case 'num':
      return NUM.test(raw) && Number.isFinite(Number(raw)) ? { value: Number(raw) } : { error: 'must be a number' };
    case 'bool':
      if (raw === 'true' || raw === '1') return { value: true };
      if (raw === 'false' || raw === '0') return { value: false };
      return { error: 'must be true or false' };
    case 'json':
      try {
        const v: unknown = JSON.parse(raw);
        return v !== null && typeof v === 'object' && !Array.isArray(v) ? { value: v } : { error: 'must be a JSON object' };
      } catch {
        return { error: 'must be URL-encoded JSON' };
      }
  }
}

/** Renames an object's keys by `names`; unknown keys are errors. Numeric strings become numbers (S13). */
function renameKeys(param: string, value: unknown, names: Record<string, string>, ignore: string[], errors: FieldError[]) {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const name = names[k];
    if (name === undefined) {
      if (!ignore.includes(k)) errors.push({ field: `${param}.${k}`, message: 'is not a known key' });
      continue;
    }
    out[name] = typeof v === 'string' && name !== 'referrer' && name !== 'installReferrer' && INT.test(v) ? Number(v) : v;
  }
  return out;
}

export function fromSingularQuery(kind: RecordKind, query: Query, appId: string): Mapped {
  const table = { ...COMMON, ...(kind === 'session' ? SESSION : EVENT) };
  const candidate: Record<string, unknown> = { appId, ids: {} };
  const errors: FieldError[] = [];
  const params = new Map<string, string>(Object.entries(table).map(([param, [path]]) => [path, param]));
  params.set('ip', 'ip').set('ipv6', 'ip').set('limitDataSharing', 'data_sharing_options').set('limitAdTracking', 'dnt');
  params.set('installRef', 'install_ref').set('metaRef', 'meta_ref').set('ids', 'idfv/asid/aifa/amid/oaid/andi');
  const skan: Record<string, number> = {};

  for (const [param, value] of Object.entries(query)) {
    if (param === 'a' || value === undefined) continue;
    if (Array.isArray(value)) {
      errors.push({ field: param, message: 'must appear once' });
      continue;
    }
    const refused = REFUSED[param];
    if (refused) {
      errors.push({ field: param, message: refused });
      continue;
    }
    const entry = table[param];
    if (entry) {
      const { value: v, error } = convert(value, entry[1]);
      if (error) errors.push({ field: param, message: error });
      else set(candidate, entry[0], v);
      continue;
    }
    switch (param) {
      case 'ip':
        // An IPv6 address in `ip` (S2) travels as the canonical ipv6 (with country).
        candidate[value.includes(':') ? 'ipv6' : 'ip'] = value;
        break;
      case 'utime': {
        const { value: v, error } = convert(value, 'int');
        if (error) errors.push({ field: param, message: error });
        else candidate.timestampMs = (v as number) * 1000;
        params.set('timestampMs', 'utime');
        break;
      }
      case 'dnt':
      case 'dntoff': {
        const { value: v, error } = convert(value, 'bool');
        if (error) errors.push({ field: param, message: 'must be 0 or 1' });
        else candidate.limitAdTracking = param === 'dnt' ? v : !v;
        params.set('limitAdTracking', param);
        break;
      }
      case 'data_sharing_options': {
        const { value: v, error } = convert(value, 'json');
        const lds = (v as { limit_data_sharing?: unknown } | undefined)?.limit_data_sharing;
        if (error || typeof lds !== 'boolean')
          errors.push({ field: param, message: error ?? 'must be {"limit_data_sharing": true|false}' });
        else candidate.limitDataSharing = lds;
        break;
      }
      case 'install_ref':
      case 'meta_ref': {
        if (kind !== 'session') {
          errors.push({ field: param, message: 'is a session parameter (/api/v1/launch)' });
          break;
        }
        const { value: v, error } = convert(value, 'json');
        if (error) errors.push({ field: param, message: error });
        else if (param === 'install_ref')
          candidate.installRef = renameKeys(param, v, INSTALL_REF_KEYS, ['referrer_source'], errors);
        else candidate.metaRef = renameKeys(param, v, META_REF_KEYS, [], errors);
        break;
      }
      default:
        if (SKAN.test(param)) {
          const { value: v, error } = convert(value, 'int');
          if (error) errors.push({ field: param, message: error });
          else skan[param] = v as number;
        } else if (SESSION[param]) {
          errors.push({ field: param, message: 'is a session parameter (/api/v1/launch)' });
        } else if (EVENT[param]) {
          errors.push({ field: param, message: 'is an event parameter (/api/v1/evt)' });
        } else {
          errors.push({ field: param, message: 'is not a parameter the relay knows' });
        }
    }
  }
  if (Object.keys(skan).length > 0) candidate.skan = skan;

  const paramOf = (field: string): string => {
    const [head, ...rest] = field.split('.');
    if (head === 'skan' && rest.length) return rest.join('.');
    if (head === 'attributes') return ['e', ...rest].join('.');
    if (head === 'globalProperties') return ['global_properties', ...rest].join('.');
    if (head === 'installRef' || head === 'metaRef') {
      const names = Object.entries(head === 'installRef' ? INSTALL_REF_KEYS : META_REF_KEYS);
      const sub = rest.map((r) => names.find(([, canonical]) => canonical === r)?.[0] ?? r);
      return [params.get(head), ...sub].join('.');
    }
    return params.get(field) ?? params.get(head as string) ?? field;
  };
  return { candidate, errors, paramOf };
}
