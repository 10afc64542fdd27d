/**
 * Oath `appinstall` client: one signed GET per install. The HMAC key never leaves this module and
 * the signature is redacted from every URL it reports; it never retries (the worker does, with the
 * same `id`, S-O13).
 */

import type { OathAnswer, SessionRecord } from '@s2s/contracts';
import type { Dispatcher } from 'undici';
import { redactQuery } from '../encoding.js';
import { PartnerError, PartnerRejectedError } from '../errors.js';
import { answerText, createHttpClient, type HttpClient, retryAfterMs } from '../http.js';
import { type CallOptions, normaliseBaseUrl, type PartnerLogger, type PartnerResult, silentLogger } from '../types.js';
import { parseOathResponse } from './answer.js';
import { buildOathRequest } from './build.js';

export interface OathSettings {
  dataProviderId: string;
  hmacKey: string;
}

export interface OathClientOptions {
  /** e.g. https://notify.beap.gemini.yahoo.com, or the sandbox. */
  baseUrl: string;
  timeoutMs?: number | undefined;
  dispatcher?: Dispatcher | undefined;
  http?: HttpClient | undefined;
  logger?: PartnerLogger | undefined;
}

export interface OathClient {
  /** Reports one install; `requestId` is the relay's id for this record, the same on every retry. */
  install(
    record: SessionRecord,
    settings: OathSettings,
    ctx: { requestId: string },
    call?: CallOptions,
  ): Promise<PartnerResult<OathAnswer>>;
  close(): Promise<void>;
}

export function createOathClient(options: OathClientOptions): OathClient {
  const base = normaliseBaseUrl('oath', options.baseUrl);
  const http = options.http ?? createHttpClient({ dispatcher: options.dispatcher, timeoutMs: options.timeoutMs });
  const logger = options.logger ?? silentLogger;

  async function install(
    record: SessionRecord,
    settings: OathSettings,
    ctx: { requestId: string },
    call: CallOptions = {},
  ): Promise<PartnerResult<OathAnswer>> {
    const req = buildOathRequest(record, { ...settings, requestId: ctx.requestId });
    const secrets = [settings.hmacKey, req.bs];
    const url = `${base}${req.pathAndQuery}`;
    const reported = redactQuery(url, ['bs']);
    const res = await http.send({
      partner: 'oath',
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      timeoutMs: call.timeoutMs,
      signal: call.signal,
      secrets,
    });
    logger.debug(
      { partner: 'oath', op: 'install', status: res.status, latencyMs: res.latencyMs, url: reported },
      'oath answered',
    );
    const o = parseOathResponse(res.status, res.body);
    const detail = { httpStatus: res.status, partnerAnswer: answerText(res.body, secrets) };
    if (o.outcome === 'success') return { answer: o.answer, status: res.status, url: reported, latencyMs: res.latencyMs };
    if (o.outcome === 'permanent') throw new PartnerRejectedError('oath', answerText(o.reason, secrets), detail);
    if (o.unreadable)
      throw new PartnerError('PARTNER_BAD_ANSWER', `oath install: ${o.reason}`, {
        ...detail,
        partner: 'oath',
        retryable: true,
        inDoubt: true,
      });
    throw new PartnerError('PARTNER_UNAVAILABLE', `oath install: ${o.reason}`, {
      ...detail,
      partner: 'oath',
      retryable: true,
      retryAfterMs: retryAfterMs(res.headers),
    });
  }

  return { install, close: () => (options.http ? Promise.resolve() : http.close()) };
}
