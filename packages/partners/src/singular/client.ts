/**
 * Singular S2S client: one HTTP call per session or event, the answer classified (S1), failures as
 * typed errors. It never retries and never logs the SDK key (`a` is redacted in every URL it reports).
 */

import type { EventRecord, SessionRecord, SingularAnswer } from '@s2s/contracts';
import type { Dispatcher } from 'undici';
import { redactQuery } from '../encoding.js';
import { PartnerError, PartnerRejectedError } from '../errors.js';
import { answerText, createHttpClient, type HttpClient, retryAfterMs } from '../http.js';
import { type CallOptions, normaliseBaseUrl, type PartnerLogger, type PartnerResult, silentLogger } from '../types.js';
import { parseSingularResponse } from './answer.js';
import {
  buildSingularEventQuery,
  buildSingularSessionQuery,
  type SingularApp,
  type SingularCallContext,
  type SingularSessionContext,
} from './build.js';

export interface SingularClientOptions {
  /** e.g. https://s2s.singular.net, or the sandbox. */
  baseUrl: string;
  /** S4/S19: paths and method stay configurable. POST sends the same encoded pairs as a form body. */
  sessionPath?: string | undefined;
  eventPath?: string | undefined;
  method?: 'GET' | 'POST' | undefined;
  /** Per-call deadline (default 10 s, S16). */
  timeoutMs?: number | undefined;
  /** Longest GET URL allowed (default 32 KB, S21). */
  maxUrlBytes?: number | undefined;
  dispatcher?: Dispatcher | undefined;
  /** A shared HTTP client; when given, `dispatcher`, `timeoutMs` and `maxUrlBytes` are its business. */
  http?: HttpClient | undefined;
  logger?: PartnerLogger | undefined;
}

export interface SingularClient {
  session(
    record: SessionRecord,
    app: SingularApp,
    ctx: SingularSessionContext,
    call?: CallOptions,
  ): Promise<PartnerResult<SingularAnswer>>;
  event(
    record: EventRecord,
    app: SingularApp,
    ctx?: SingularCallContext,
    call?: CallOptions,
  ): Promise<PartnerResult<SingularAnswer>>;
  close(): Promise<void>;
}

export const SINGULAR_SESSION_PATH = '/api/v1/launch';
export const SINGULAR_EVENT_PATH = '/api/v1/evt';

export function createSingularClient(options: SingularClientOptions): SingularClient {
  const base = normaliseBaseUrl('singular', options.baseUrl);
  const method = options.method ?? 'GET';
  const http =
    options.http ??
    createHttpClient({ dispatcher: options.dispatcher, timeoutMs: options.timeoutMs, maxUrlBytes: options.maxUrlBytes });
  const logger = options.logger ?? silentLogger;

  async function send(op: 'session' | 'event', path: string, query: string, app: SingularApp, call: CallOptions = {}) {
    const secrets = [app.sdkKey];
    const url = method === 'GET' ? `${base}${path}?${query}` : `${base}${path}`;
    const reported = method === 'GET' ? redactQuery(url, ['a']) : url;
    const res = await http.send({
      partner: 'singular',
      method,
      url,
      headers:
        method === 'GET'
          ? { accept: 'application/json' }
          : { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      ...(method === 'POST' ? { body: query } : {}),
      timeoutMs: call.timeoutMs,
      signal: call.signal,
      secrets,
    });
    logger.debug(
      { partner: 'singular', op, status: res.status, latencyMs: res.latencyMs, url: reported, bytes: Buffer.byteLength(query) },
      'singular answered',
    );
    const o = parseSingularResponse(res.status, res.body);
    const detail = { httpStatus: res.status, partnerAnswer: answerText(res.body, secrets) };
    if (o.outcome === 'success') return { answer: o.answer, status: res.status, url: reported, latencyMs: res.latencyMs };
    if (o.outcome === 'permanent') throw new PartnerRejectedError('singular', answerText(o.reason, secrets), detail);
    if (o.unreadable)
      throw new PartnerError('PARTNER_BAD_ANSWER', `singular ${op}: ${o.reason}`, {
        ...detail,
        partner: 'singular',
        retryable: true,
        inDoubt: true,
      });
    if (res.status !== 200)
      throw new PartnerError('PARTNER_UNAVAILABLE', `singular ${op}: HTTP ${res.status}`, {
        ...detail,
        partner: 'singular',
        retryable: true,
        retryAfterMs: retryAfterMs(res.headers),
      });
    throw new PartnerError('PARTNER_ERROR', `singular ${op}: ${answerText(o.reason, secrets)}`, {
      ...detail,
      partner: 'singular',
      retryable: true,
      reason: answerText(o.reason, secrets),
    });
  }

  return {
    session: async (record, app, ctx, call) =>
      send('session', options.sessionPath ?? SINGULAR_SESSION_PATH, buildSingularSessionQuery(record, app, ctx), app, call),
    event: async (record, app, ctx = {}, call) =>
      send('event', options.eventPath ?? SINGULAR_EVENT_PATH, buildSingularEventQuery(record, app, ctx), app, call),
    close: () => (options.http ? Promise.resolve() : http.close()),
  };
}
