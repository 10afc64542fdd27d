/**
 * The worker's one view of the partners: `PartnerCaller.call` makes one call for one (record,
 * partner) and returns the answer or throws. Lanes depend on this interface only; the real
 * implementation wires the @s2s/partners clients, tests may pass their own.
 *
 * Failures are read by `classify` from the error's `code`, `retryable` and `inDoubt` (never its
 * message): a RelayError without `inDoubt` is taken as a clean failure, anything else as a bug in
 * the record's handling (permanent, so it goes to the DLQ instead of blocking the lane).
 */
import type { IngestMessage, OathAnswer, OnsideAnswer, Partner, SingularAnswer } from '@s2s/contracts';
import { RelayError } from '@s2s/contracts';
import {
  createHttpClient,
  createOathClient,
  createOnsideClient,
  createSingularClient,
  isPartnerError,
  type PartnerLogger,
} from '@s2s/partners';
import type { App } from '@s2s/store';

export interface PartnerCall {
  partner: Partner;
  app: App;
  message: IngestMessage;
  /** The record is the device's install (Singular `install=true`). */
  install: boolean;
}

export interface PartnerAnswers {
  singular?: SingularAnswer;
  oath?: OathAnswer;
  onside?: OnsideAnswer;
}

export interface PartnerCaller {
  call(c: PartnerCall): Promise<PartnerAnswers>;
  close(): Promise<void>;
}

export interface Failure {
  code: string;
  message: string;
  retryable: boolean;
  /** The partner may have acted on the request (timeout or reset after it was written). */
  inDoubt: boolean;
  reason: string | undefined;
  partnerAnswer: string | undefined;
  retryAfterMs: number | undefined;
}

export function classify(err: unknown): Failure {
  if (isPartnerError(err))
    return {
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      inDoubt: err.inDoubt,
      reason: err.reason,
      partnerAnswer: err.partnerAnswer,
      retryAfterMs: err.retryAfterMs,
    };
  if (err instanceof RelayError) {
    const inDoubt = (err as { inDoubt?: unknown }).inDoubt === true;
    return {
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      inDoubt,
      reason: undefined,
      partnerAnswer: undefined,
      retryAfterMs: undefined,
    };
  }
  return {
    code: 'WORKER_UNEXPECTED',
    message: err instanceof Error ? err.message : String(err),
    retryable: false,
    inDoubt: false,
    reason: undefined,
    partnerAnswer: undefined,
    retryAfterMs: undefined,
  };
}

export class PartnerNotConfiguredError extends RelayError {
  constructor(partner: Partner, appId: string) {
    super('PARTNER_NOT_CONFIGURED', `app ${appId} has no ${partner} settings`, { retryable: false });
  }
}

export interface RealPartnersOptions {
  singularBaseUrl: string;
  oathBaseUrl: string;
  onsideBaseUrl: string;
  onsideIssuer?: string;
  timeoutMs: number;
  logger?: PartnerLogger;
}

/** The @s2s/partners clients behind one shared keep-alive HTTP client. */
export function createPartnerCaller(o: RealPartnersOptions): PartnerCaller {
  const http = createHttpClient({ timeoutMs: o.timeoutMs });
  const common = { http, timeoutMs: o.timeoutMs, ...(o.logger ? { logger: o.logger } : {}) };
  const singular = createSingularClient({ baseUrl: o.singularBaseUrl, ...common });
  const oath = createOathClient({ baseUrl: o.oathBaseUrl, ...common });
  const onside = createOnsideClient({
    baseUrl: o.onsideBaseUrl,
    ...common,
    ...(o.onsideIssuer ? { issuer: o.onsideIssuer } : {}),
  });

  return {
    async call({ partner, app, message, install }) {
      const ctx = { receivedAtMs: message.receivedAtMs };
      if (partner === 'singular') {
        if (!app.singular) throw new PartnerNotConfiguredError('singular', app.id);
        const settings = { sdkKey: app.singular.sdkKey, ddlEnabled: app.ddlEnabled };
        const r =
          message.kind === 'session'
            ? await singular.session(message.record, settings, { ...ctx, install })
            : await singular.event(message.record, settings, ctx);
        return { singular: r.answer };
      }
      if (message.kind !== 'session') throw new PartnerNotConfiguredError(partner, app.id);
      if (partner === 'oath') {
        if (!app.oath) throw new PartnerNotConfiguredError('oath', app.id);
        const r = await oath.install(message.record, app.oath, { requestId: message.requestId });
        return { oath: r.answer };
      }
      // Way (b) when the record carries onside.jws: verified, no call (the client decides).
      const r = await onside.install(message.record);
      return { onside: r.answer };
    },
    async close() {
      await http.close();
    },
  };
}
