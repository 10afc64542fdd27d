/**
 * The partner clients' error catalogue. The worker decides retry / DLQ / in-doubt from `code`,
 * `retryable` and `inDoubt`, never from a message. Messages and `partnerAnswer` never carry a
 * partner secret (Singular `a`, Oath key or `bs`, Onside bearer token): the HTTP layer scrubs them.
 *
 * | code                        | retryable | inDoubt                         | when |
 * |-----------------------------|-----------|---------------------------------|------|
 * | PARTNER_UNAVAILABLE         | yes       | no                              | not connected / request never written; 429 or 5xx answer; Singular non-200 |
 * | PARTNER_TIMEOUT             | yes       | yes once the request was written | the per-call deadline passed |
 * | PARTNER_CONNECTION_LOST     | yes       | yes                             | connection reset or closed after the request was written |
 * | PARTNER_ABORTED             | yes       | yes once the request was written | the caller's AbortSignal fired |
 * | PARTNER_ERROR               | yes       | no                              | Singular 200 + `status:"error"` with a reason not known to be permanent |
 * | PARTNER_BAD_ANSWER          | yes       | yes                             | a success status with a body that cannot be read (the partner may have acted on it) |
 * | PARTNER_REJECTED            | no        | no                              | the partner refused the request as is (`reason`, `partnerAnswer`) |
 * | PARTNER_INPUT_INVALID       | no        | no                              | the record cannot be mapped to the partner's wire format |
 * | PARTNER_REQUEST_TOO_LARGE   | no        | no                              | the GET URL passes the configured limit (32 KB, S21) |
 * | PARTNER_CONFIG_INVALID      | no        | no                              | a client option cannot work (bad base URL, bad header) |
 * | ONSIDE_VERIFICATION_FAILED  | no        | no                              | the JWS failed a check of partner-apis.md §3.5 (`check` names it) |
 * | ONSIDE_JWKS_UNAVAILABLE     | yes       | no                              | Onside's keys could not be fetched, or an unknown `kid` met the refetch cooldown |
 */
import { RelayError } from '@s2s/contracts';

export type PartnerName = 'singular' | 'oath' | 'onside';

export type PartnerErrorCode =
  | 'PARTNER_UNAVAILABLE'
  | 'PARTNER_TIMEOUT'
  | 'PARTNER_CONNECTION_LOST'
  | 'PARTNER_ABORTED'
  | 'PARTNER_ERROR'
  | 'PARTNER_BAD_ANSWER'
  | 'PARTNER_REJECTED'
  | 'PARTNER_INPUT_INVALID'
  | 'PARTNER_REQUEST_TOO_LARGE'
  | 'PARTNER_CONFIG_INVALID'
  | 'ONSIDE_VERIFICATION_FAILED'
  | 'ONSIDE_JWKS_UNAVAILABLE';

export interface PartnerErrorOptions {
  partner: PartnerName;
  retryable: boolean;
  inDoubt?: boolean;
  /** HTTP status of the partner's answer, when there was one. */
  httpStatus?: number | undefined;
  /** The partner's reason (Singular `reason`, Oath `error`), secret-free. */
  reason?: string | undefined;
  /** The partner's answer body (truncated, secret-free), for the DLQ's `partnerAnswer`. */
  partnerAnswer?: string | undefined;
  /** Milliseconds the partner asked us to wait (Retry-After), when it said. */
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

/** Every error a partner client throws. */
export class PartnerError extends RelayError {
  readonly partner: PartnerName;
  /** True when the partner may have acted on the request: resending could duplicate it. */
  readonly inDoubt: boolean;
  readonly httpStatus: number | undefined;
  readonly reason: string | undefined;
  readonly partnerAnswer: string | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(code: PartnerErrorCode, message: string, o: PartnerErrorOptions) {
    super(code, message, { retryable: o.retryable, cause: o.cause });
    this.name = 'PartnerError';
    this.partner = o.partner;
    this.inDoubt = o.inDoubt ?? false;
    this.httpStatus = o.httpStatus;
    this.reason = o.reason;
    this.partnerAnswer = o.partnerAnswer;
    this.retryAfterMs = o.retryAfterMs;
  }
  declare readonly code: PartnerErrorCode;
}

/** The partner refused this request as is: DLQ, never retry. */
export class PartnerRejectedError extends PartnerError {
  constructor(partner: PartnerName, reason: string, o: Omit<PartnerErrorOptions, 'partner' | 'retryable' | 'reason'> = {}) {
    super('PARTNER_REJECTED', `${partner} rejected the request: ${reason}`, { ...o, partner, retryable: false, reason });
    this.name = 'PartnerRejectedError';
  }
}

/** The record cannot be expressed in the partner's wire format (a gap the gateway should have caught). */
export class PartnerInputError extends PartnerError {
  constructor(
    partner: PartnerName,
    message: string,
    code: 'PARTNER_INPUT_INVALID' | 'PARTNER_REQUEST_TOO_LARGE' = 'PARTNER_INPUT_INVALID',
  ) {
    super(code, `${partner}: ${message}`, { partner, retryable: false });
    this.name = 'PartnerInputError';
  }
}

/** Which check of partner-apis.md §3.5 an Onside JWS failed. */
export type OnsideCheck =
  | 'content_type'
  | 'format'
  | 'alg'
  | 'kid'
  | 'signature'
  | 'iss'
  | 'aud'
  | 'exp'
  | 'iat'
  | 'nbf'
  | 'request_token'
  | 'installation_token';

/** The Onside answer is not to be trusted: never relayed, never retried. */
export class OnsideVerificationError extends PartnerError {
  readonly check: OnsideCheck;
  constructor(check: OnsideCheck, detail: string, cause?: unknown) {
    super('ONSIDE_VERIFICATION_FAILED', `onside answer failed the ${check} check: ${detail}`, {
      partner: 'onside',
      retryable: false,
      reason: check,
      cause,
    });
    this.name = 'OnsideVerificationError';
    this.check = check;
  }
}

export function isPartnerError(e: unknown): e is PartnerError {
  return e instanceof PartnerError;
}
