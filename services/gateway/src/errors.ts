/**
 * Every error the gateway answers with, by stable code. Clients branch on `code` (never on the
 * message); `retryable` tells them whether the same request may succeed later. The README lists this
 * catalogue; GET /docs/errors serves it.
 */
import { type FieldError, RelayError } from '@s2s/contracts';

interface Entry {
  status: number;
  title: string;
  retryable: boolean;
  /** What the client should do. */
  fix: string;
}

export const ERRORS = {
  VALIDATION_FAILED: {
    status: 400,
    title: 'The record is not valid',
    retryable: false,
    fix: 'Correct every field listed in `errors` and send again.',
  },
  MALFORMED_JSON: {
    status: 400,
    title: 'The body is not valid JSON',
    retryable: false,
    fix: 'Send one JSON document (UTF-8), with Content-Type: application/json.',
  },
  BAD_HEADER: {
    status: 400,
    title: 'A request header is not valid',
    retryable: false,
    fix: 'See `detail`: Idempotency-Key must appear once, with 1–255 visible ASCII characters.',
  },
  API_KEY_MISSING: {
    status: 401,
    title: 'No API key',
    retryable: false,
    fix: 'Send the app key as Authorization: Bearer <key> or X-Api-Key (or `a` on the Singular drop-in routes).',
  },
  API_KEY_INVALID: {
    status: 401,
    title: 'Unknown or revoked API key',
    retryable: false,
    fix: 'Use a current key of the app (`s2s-relay apps rotate-key`).',
  },
  APP_DISABLED: {
    status: 401,
    title: 'The app is disabled',
    retryable: false,
    fix: 'An operator disabled the app; nothing is accepted for it until it is enabled again.',
  },
  ADMIN_KEY_INVALID: {
    status: 401,
    title: 'Missing or wrong admin key',
    retryable: false,
    fix: 'Send the operator key (ADMIN_KEY) in X-Admin-Key.',
  },
  POSTBACK_SECRET_INVALID: {
    status: 401,
    title: 'Missing or wrong postback secret',
    retryable: false,
    fix: "Put the app's postback secret (`s2s-relay apps postback-secret <id>`) in the postback URL's `key` parameter or X-Postback-Secret.",
  },
  APP_MISMATCH: {
    status: 403,
    title: "The record's appId is not the key's app",
    retryable: false,
    fix: 'Send records of the app the API key belongs to.',
  },
  REQUEST_NOT_FOUND: {
    status: 404,
    title: 'No such request',
    retryable: false,
    fix: 'Use a requestId this app received from an intake route.',
  },
  DEVICE_NOT_FOUND: {
    status: 404,
    title: 'No such device',
    retryable: false,
    fix: 'Name the device by its device key, kind:value (e.g. idfv:…) or an identifier the device graph knows.',
  },
  ROUTE_NOT_FOUND: {
    status: 404,
    title: 'No such route',
    retryable: false,
    fix: 'See the OpenAPI document at /docs.',
  },
  IDEMPOTENCY_CONFLICT: {
    status: 409,
    title: 'The idempotency key was used with another body',
    retryable: false,
    fix: 'Use a new Idempotency-Key (or eventId) for a different record; resend the original body to get its request id.',
  },
  BODY_TOO_LARGE: {
    status: 413,
    title: 'The body is too large',
    retryable: false,
    fix: 'Stay under BODY_LIMIT_BYTES; split a batch.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    title: 'Unsupported content type',
    retryable: false,
    fix: 'Send Content-Type: application/json.',
  },
  RATE_LIMITED: {
    status: 429,
    title: 'Too many requests for this app',
    retryable: true,
    fix: 'Wait for Retry-After seconds, then send again.',
  },
  INTERNAL: {
    status: 500,
    title: 'Internal error',
    retryable: true,
    fix: 'Retry with the same Idempotency-Key; report it if it persists.',
  },
  UPSTREAM_UNAVAILABLE: {
    status: 502,
    title: 'The internal service behind /ops did not answer',
    retryable: true,
    fix: 'Check that the partner sandbox (SANDBOX_URL) or the worker (WORKER_OPS_URL) runs.',
  },
  KAFKA_UNAVAILABLE: {
    status: 503,
    title: 'The record could not be stored in Kafka',
    retryable: true,
    fix: 'Nothing was accepted: retry after Retry-After seconds with the same Idempotency-Key (or body).',
  },
  DATABASE_UNAVAILABLE: {
    status: 503,
    title: 'Postgres is unavailable',
    retryable: true,
    fix: 'Nothing was accepted: retry after Retry-After seconds.',
  },
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof ERRORS;

export interface GatewayErrorOptions {
  errors?: FieldError[];
  cause?: unknown;
  /** Seconds for Retry-After. */
  retryAfter?: number;
  /** Extension members of the problem document (e.g. the request id that holds an idempotency key). */
  extra?: Record<string, unknown>;
}

export class GatewayError extends RelayError {
  readonly errors: FieldError[] | undefined;
  readonly retryAfter: number | undefined;
  extra: Record<string, unknown> | undefined;
  constructor(
    override readonly code: ErrorCode,
    detail: string = ERRORS[code].title,
    { errors, cause, retryAfter, extra }: GatewayErrorOptions = {},
  ) {
    super(code, detail, { status: ERRORS[code].status, retryable: ERRORS[code].retryable, cause });
    this.name = 'GatewayError';
    this.errors = errors;
    this.retryAfter = retryAfter;
    this.extra = extra;
  }
}

/** RFC 9457 problem document. `type` resolves to this code's entry in GET /docs/errors. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  retryable: boolean;
  errors?: FieldError[];
  instance?: string;
  [extension: string]: unknown;
}

export function problemOf(error: GatewayError, instance?: string): Problem {
  const entry = ERRORS[error.code];
  const p: Problem = {
    ...error.extra,
    type: `/docs/errors#${error.code}`,
    title: entry.title,
    status: entry.status,
    detail: error.message,
    code: error.code,
    retryable: entry.retryable,
  };
  if (error.errors) p.errors = error.errors;
  if (instance) p.instance = instance;
  return p;
}
