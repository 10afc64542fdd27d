/**
 * The one HTTP client the partner clients share: undici with keep-alive connection reuse, a per-call
 * deadline (default 10 s, S16), the caller's AbortSignal, and transport failures turned into typed
 * errors. It never retries (the worker owns retries and ordering) and never decides what a status
 * means: non-2xx answers are returned, each partner classifies them.
 *
 * "In doubt" rule: once undici has handed the request to a connected socket (`onRequestStart`, just
 * before the bytes are written) a failure may come after the partner acted on it, so a timeout, a
 * reset or an abort from then on is `inDoubt: true`; before that it is not.
 */
import { Agent, type Dispatcher } from 'undici';
import { scrub } from './encoding.js';
import { PartnerError, PartnerInputError, type PartnerName } from './errors.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
/** S21: receipts travel in GET URLs; allow up to 32 KB. */
export const DEFAULT_MAX_URL_BYTES = 32_768;
const DEFAULT_MAX_RESPONSE_BYTES = 1_048_576;

export interface HttpRequest {
  partner: PartnerName;
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Per-call deadline; the client's default otherwise. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Values that must never appear in an error message, cause or `partnerAnswer`. */
  secrets?: readonly string[];
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  latencyMs: number;
}

export interface HttpClient {
  send(req: HttpRequest): Promise<HttpResponse>;
  /** Closes the connection pool if this client created it. */
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** An undici dispatcher (Agent, Pool, MockAgent...); default: a keep-alive Agent owned by this client. */
  dispatcher?: Dispatcher | undefined;
  timeoutMs?: number | undefined;
  maxUrlBytes?: number | undefined;
  maxResponseBytes?: number | undefined;
}

export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const owned = options.dispatcher === undefined;
  const dispatcher =
    options.dispatcher ??
    new Agent({
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 600_000,
      connections: 64,
      connect: { timeout: DEFAULT_TIMEOUT_MS },
    });
  const defaultTimeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxUrlBytes = options.maxUrlBytes ?? DEFAULT_MAX_URL_BYTES;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;

  function send(req: HttpRequest): Promise<HttpResponse> {
    const secrets = req.secrets ?? [];
    const fail = (
      code: ConstructorParameters<typeof PartnerError>[0],
      what: string,
      retryable: boolean,
      inDoubt: boolean,
      cause?: unknown,
    ) =>
      new PartnerError(code, `${req.partner} ${req.method} ${pathOf(req.url)}: ${scrub(what, secrets)}`, {
        partner: req.partner,
        retryable,
        inDoubt,
        cause: cause === undefined ? undefined : safeCause(cause, secrets),
      });
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return Promise.reject(fail('PARTNER_CONFIG_INVALID', 'invalid URL', false, false));
    }
    if (Buffer.byteLength(req.url) > maxUrlBytes)
      return Promise.reject(
        new PartnerInputError(
          req.partner,
          `request URL is ${Buffer.byteLength(req.url)} bytes, over the ${maxUrlBytes} limit`,
          'PARTNER_REQUEST_TOO_LARGE',
        ),
      );
    const timeoutMs = req.timeoutMs ?? defaultTimeout;
    const t0 = performance.now();

    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      let written = false;
      let controller: Dispatcher.DispatchController | undefined;
      let pendingAbort: Error | undefined;
      let status = 0;
      let headers: Record<string, string | string[] | undefined> = {};
      const chunks: Buffer[] = [];
      let size = 0;

      const settle = (err: PartnerError | undefined, res?: HttpResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(res as HttpResponse);
      };
      /** Stops the request: now if it is on a socket, else as soon as undici hands it one (it is then never written). */
      const stop = (reason: Error) => {
        if (controller) controller.abort(reason);
        else pendingAbort = reason;
      };
      const onTimeout = () => {
        const err = fail('PARTNER_TIMEOUT', `no complete answer within ${timeoutMs} ms`, true, written);
        settle(err);
        stop(err);
      };
      const onAbort = () => {
        const err = fail('PARTNER_ABORTED', 'aborted by the caller', true, written);
        settle(err);
        stop(err);
      };
      const timer = setTimeout(onTimeout, timeoutMs);
      if (req.signal?.aborted) {
        onAbort();
        return;
      }
      req.signal?.addEventListener('abort', onAbort, { once: true });

      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (pendingAbort) c.abort(pendingAbort);
          else written = true;
        },
        onResponseStart(_c, statusCode, h) {
          status = statusCode;
          headers = h as Record<string, string | string[] | undefined>;
        },
        onResponseData(c, chunk) {
          size += chunk.length;
          if (size > maxResponseBytes) {
            const err = fail('PARTNER_BAD_ANSWER', `answer larger than ${maxResponseBytes} bytes (HTTP ${status})`, true, true);
            settle(err);
            c.abort(err);
            return;
          }
          chunks.push(chunk);
        },
        onResponseEnd() {
          const latencyMs = Math.round((performance.now() - t0) * 10) / 10;
          settle(undefined, { status, headers, body: Buffer.concat(chunks).toString('utf8'), latencyMs });
        },
        onResponseError(_c, err) {
          if (settled) return;
          settle(classify(err));
        },
      };
      const classify = (err: Error): PartnerError => {
        const code = (err as { code?: string }).code ?? err.name;
        if (code === 'UND_ERR_INVALID_ARG')
          return fail('PARTNER_CONFIG_INVALID', `request could not be built (${code})`, false, false, err);
        if (!written) return fail('PARTNER_UNAVAILABLE', `request not sent (${code})`, true, false, err);
        if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT')
          return fail('PARTNER_TIMEOUT', `partner stalled after the request was sent (${code})`, true, true, err);
        return fail('PARTNER_CONNECTION_LOST', `connection lost after the request was sent (${code})`, true, true, err);
      };

      try {
        dispatcher.dispatch(
          {
            origin: url.origin,
            path: `${url.pathname}${url.search}`,
            method: req.method,
            headers: req.headers ?? {},
            body: req.body ?? null,
            headersTimeout: timeoutMs,
            bodyTimeout: timeoutMs,
          },
          handler,
        );
      } catch (e) {
        settle(fail('PARTNER_CONFIG_INVALID', `request could not be dispatched (${(e as Error).name})`, false, false, e));
      }
    });
  }

  return {
    send,
    async close() {
      if (owned) await dispatcher.close();
    },
  };
}

/** The path of a URL, without its query (which may carry secrets). */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  const noQuery = q === -1 ? url : url.slice(0, q);
  try {
    return new URL(noQuery).pathname;
  } catch {
    return '(invalid url)';
  }
}

/** The cause as given when it carries no secret; otherwise a scrubbed copy (message and code only). */
function safeCause(cause: unknown, secrets: readonly string[]): unknown {
  if (!(cause instanceof Error)) return cause;
  const text = `${cause.message}\n${cause.stack ?? ''}`;
  if (scrub(text, secrets) === text) return cause;
  const copy = new Error(scrub(cause.message, secrets));
  copy.name = cause.name;
  Object.assign(copy, { code: (cause as { code?: string }).code });
  return copy;
}

/** Retry-After as milliseconds (seconds or an HTTP date), when the partner sent one. */
export function retryAfterMs(headers: HttpResponse['headers'], nowMs = Date.now()): number | undefined {
  const raw = headers['retry-after'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** A response header as one string (the first value when repeated). */
export function header(headers: HttpResponse['headers'], name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** The partner's answer text for an error or the DLQ: secret-free and at most 2000 characters. */
export function answerText(body: string, secrets: readonly string[] = []): string {
  const s = scrub(body, secrets);
  return s.length > 2000 ? `${s.slice(0, 2000)}…` : s;
}

/**
 * `HTTP 403: invalid signature` from `{"error":"invalid signature"}` (or a problem+json `detail` /
 * `title`, or `message`), else `HTTP 403`. The whole body goes to `partnerAnswer` anyway.
 */
export function statusReason(status: number, body: string): string {
  try {
    const j = JSON.parse(body) as Record<string, unknown>;
    for (const k of ['error', 'detail', 'title', 'message']) {
      const v = j[k];
      if (typeof v === 'string' && v) return `HTTP ${status}: ${v}`;
    }
  } catch {
    // not JSON: the status says enough
  }
  return `HTTP ${status}`;
}
