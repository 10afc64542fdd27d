/** Shapes every partner client shares, so the worker calls them the same way. */
import { PartnerError, type PartnerName } from './errors.js';

/** A pino-compatible logger; only these two levels are used. Lines never carry secrets. */
export interface PartnerLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export const silentLogger: PartnerLogger = { debug() {}, warn() {} };

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** Overrides the client's deadline for this call. */
  timeoutMs?: number | undefined;
}

/** What a successful partner call returns; failures throw a `PartnerError`. */
export interface PartnerResult<A> {
  answer: A;
  /** HTTP status of the partner's answer; undefined when no call was made (Onside way b). */
  status: number | undefined;
  /** The URL called, secrets redacted; undefined when no call was made. */
  url: string | undefined;
  latencyMs: number;
}

/** Base URL without a trailing slash, validated once at client creation. */
export function normaliseBaseUrl(partner: PartnerName, baseUrl: string): string {
  let u: URL | undefined;
  try {
    u = new URL(baseUrl);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.search || u.username)
    throw new PartnerError('PARTNER_CONFIG_INVALID', `${partner}: base URL must be an http(s) URL without query or credentials`, {
      partner,
      retryable: false,
    });
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}
