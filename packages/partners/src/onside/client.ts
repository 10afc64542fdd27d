/**
 * Onside install attribution (iOS only, S-N10), two ways with one verification:
 * (a) the relay calls Onside, passing the device IP in a forwarding header (S-N2), and verifies the JWS;
 * (b) the app called Onside itself and the record carries `onside.jws`: verified the same way, no call.
 * An answer that fails verification is never returned.
 */
import type { OnsideAnswer, SessionRecord } from '@s2s/contracts';
import type { Dispatcher } from 'undici';
import { OnsideVerificationError, PartnerError, PartnerInputError, PartnerRejectedError } from '../errors.js';
import { answerText, createHttpClient, type HttpClient, header, retryAfterMs, statusReason } from '../http.js';
import { type CallOptions, normaliseBaseUrl, type PartnerLogger, type PartnerResult, silentLogger } from '../types.js';
import { buildOnsideBody, ONSIDE_INSTALL_PATH, ONSIDE_JWKS_PATH } from './build.js';
import { createJwksCache, type JwksCache } from './jwks.js';
import { type OnsideExpectation, verifyOnsideJwsWith } from './verify.js';

export interface OnsideClientOptions {
  /** e.g. https://onside.io (S-N4), or the sandbox. The JWKS is read from `<baseUrl>/.well-known/jwks.json`. */
  baseUrl: string;
  installPath?: string | undefined;
  /** Expected `iss` (default https://onside.io). */
  issuer?: string | undefined;
  /** Header that carries the device IP to Onside (default X-Forwarded-For, S-N2). */
  forwardedForHeader?: string | undefined;
  /** Optional bearer token (S-N1); a secret, never logged. */
  bearerToken?: string | undefined;
  /** Clock tolerance for exp/iat in seconds (default 60, S-N5). */
  leewaySec?: number | undefined;
  /** Minimum time between two JWKS fetches (default 60 s). */
  jwksCooldownMs?: number | undefined;
  /** Age after which the cached JWKS is fetched again (default 10 min). */
  jwksMaxAgeMs?: number | undefined;
  timeoutMs?: number | undefined;
  dispatcher?: Dispatcher | undefined;
  http?: HttpClient | undefined;
  logger?: PartnerLogger | undefined;
  /** Wall clock, Unix ms (token times, JWKS cache). */
  now?: (() => number) | undefined;
}

export interface OnsideResult extends PartnerResult<OnsideAnswer> {
  /** `relayed`: the relay called Onside (a); `app`: the app's JWS was verified (b). */
  way: 'relayed' | 'app';
}

export interface OnsideClient {
  /** Way (b) when the record carries `onside.jws`, else way (a). */
  install(record: SessionRecord, call?: CallOptions): Promise<OnsideResult>;
  /** Verifies a JWS against what the request carried, with the same checks as way (a). */
  verifyJws(jws: string, expected: OnsideExpectation): Promise<OnsideAnswer>;
  readonly jwks: JwksCache;
  close(): Promise<void>;
}

/** S-N9: Onside's answer may be labelled any of these; the body is a compact JWS either way. */
const JWS_TYPES = new Set(['application/jose', 'application/jwt', 'text/plain']);
/** S-N3: Onside refused this request as is. */
const PERMANENT = new Set([400, 409, 415, 422]);

export function createOnsideClient(options: OnsideClientOptions): OnsideClient {
  const base = normaliseBaseUrl('onside', options.baseUrl);
  const http = options.http ?? createHttpClient({ dispatcher: options.dispatcher, timeoutMs: options.timeoutMs });
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const forwardHeader = (options.forwardedForHeader ?? 'x-forwarded-for').toLowerCase();
  const secrets = options.bearerToken ? [options.bearerToken] : [];
  const jwks = createJwksCache({
    url: `${base}${ONSIDE_JWKS_PATH}`,
    http,
    now,
    cooldownMs: options.jwksCooldownMs,
    maxAgeMs: options.jwksMaxAgeMs,
    timeoutMs: options.timeoutMs,
  });

  const verifyJws = (jws: string, expected: OnsideExpectation) =>
    verifyOnsideJwsWith(jws, expected, { getKey: jwks.getKey, issuer: options.issuer, leewaySec: options.leewaySec, now });

  async function install(record: SessionRecord, call: CallOptions = {}): Promise<OnsideResult> {
    const body = buildOnsideBody(record);
    const expected = { bundleId: body.bundle_id, token: body.token };
    const t0 = performance.now();
    if (record.onside?.jws) {
      const answer = await verifyJws(record.onside.jws, expected);
      return { answer, status: undefined, url: undefined, latencyMs: Math.round((performance.now() - t0) * 10) / 10, way: 'app' };
    }
    const ip = record.ip ?? record.ipv6;
    if (!ip) throw new PartnerInputError('onside', 'needs the device IP: Onside matches installs by IP');
    const url = `${base}${options.installPath ?? ONSIDE_INSTALL_PATH}`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/jose, application/jwt, text/plain',
      [forwardHeader]: ip,
    };
    if (options.bearerToken) headers.authorization = `Bearer ${options.bearerToken}`;
    const res = await http.send({
      partner: 'onside',
      method: 'POST',
      url,
      headers,
      body: JSON.stringify(body),
      timeoutMs: call.timeoutMs,
      signal: call.signal,
      secrets,
    });
    logger.debug({ partner: 'onside', op: 'install', status: res.status, latencyMs: res.latencyMs, url }, 'onside answered');
    const detail = { httpStatus: res.status, partnerAnswer: answerText(res.body, secrets) };
    if (res.status >= 200 && res.status < 300) {
      const type = (header(res.headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!JWS_TYPES.has(type)) throw new OnsideVerificationError('content_type', `answer is ${JSON.stringify(type)}, not a JWS`);
      const answer = await verifyJws(res.body, expected);
      return { answer, status: res.status, url, latencyMs: res.latencyMs, way: 'relayed' };
    }
    if (res.status === 429 || res.status >= 500)
      throw new PartnerError('PARTNER_UNAVAILABLE', `onside install: HTTP ${res.status}`, {
        ...detail,
        partner: 'onside',
        retryable: true,
        retryAfterMs: retryAfterMs(res.headers),
      });
    // 400/409/415/422 per S-N3; any other status (401, 403, 404, 3xx) is a configuration that no retry fixes.
    const reason = statusReason(res.status, res.body);
    throw new PartnerRejectedError(
      'onside',
      answerText(PERMANENT.has(res.status) ? reason : `${reason} (unexpected status)`, secrets),
      detail,
    );
  }

  return { install, verifyJws, jwks, close: () => (options.http ? Promise.resolve() : http.close()) };
}
