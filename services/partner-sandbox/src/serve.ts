/**
 * The one path every partner request takes: pick a fault, let the emulator answer, record the
 * request in the log, then send the answer, or do what the fault says instead (answer an error,
 * hold the socket open without answering, or destroy it).
 */
import { redactUrl } from '@s2s/logging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FaultAction } from './control/faults.js';
import type { BodyKind, NewEntry, Partner } from './request-log.js';
import type { SandboxState } from './state.js';

/** What an emulator read from a request before judging it (needed to match faults and log). */
export interface Inspected {
  /** The body as received, and how to decode it when the log is read. */
  bodyText: string | null;
  bodyKind: BodyKind | null;
  /** Lower-cased key the partner files the request under. */
  deviceKey: string | null;
  /** Every lower-cased device identifier the request names (for fault rules). */
  devices: string[];
}

/** An emulator's verdict and the answer it would send. */
export interface Answer {
  status: number;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  outcome: string;
  reason?: string;
  warnings: string[];
  duplicate: boolean;
  /** Overrides the inspected key (e.g. once validation settles it). */
  deviceKey?: string | null;
  details?: Record<string, unknown>;
}

export function splitUrl(url: string): { path: string; rawQuery: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, rawQuery: '' } : { path: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

/** Decoded query parameters; the first value of a repeated name wins and the repeats are reported. */
export function decodeParams(raw: string): { params: Record<string, string>; repeated: string[] } {
  const params: Record<string, string> = Object.create(null);
  const repeated: string[] = [];
  if (raw === '') return { params, repeated };
  for (const [k, v] of new URLSearchParams(raw)) {
    if (k in params) repeated.push(k);
    else params[k] = v;
  }
  return { params, repeated };
}

export async function serve(
  sandbox: SandboxState,
  partner: Partner,
  request: FastifyRequest,
  reply: FastifyReply,
  inspected: Inspected,
  handle: () => Answer | Promise<Answer>,
): Promise<FastifyReply | undefined> {
  const receivedAt = sandbox.clock();
  const url = request.raw.url ?? request.url;
  const { path } = splitUrl(url);
  const base = {
    partner,
    method: request.method,
    url,
    bodyText: inspected.bodyText,
    bodyKind: inspected.bodyKind,
    receivedAt,
    deviceKey: inspected.deviceKey,
  };
  const fault = sandbox.faults.pick(partner, path, inspected.devices);
  if (fault && fault.latencyMs > 0) await sandbox.sleep(fault.latencyMs);

  if (fault && fault.kind !== 'latency' && !fault.afterProcessing) {
    const sent = faultAnswer(fault);
    record(sandbox, request, {
      ...base,
      outcome: `fault:${fault.kind}`,
      status: sent.status,
      warnings: [],
      duplicate: false,
      ...(sent.body === undefined ? {} : { response: sent.body }),
      details: { fault: fault.id, deviceIds: inspected.devices },
    });
    return act(fault, request, reply);
  }

  const answer = await handle();
  const entry: NewEntry = {
    ...base,
    ...(answer.deviceKey === undefined ? {} : { deviceKey: answer.deviceKey }),
    outcome: answer.outcome,
    ...(answer.reason === undefined ? {} : { reason: answer.reason }),
    status: answer.status,
    warnings: answer.warnings,
    duplicate: answer.duplicate,
    response: answer.body,
    details: { deviceIds: inspected.devices, ...answer.details },
  };
  if (fault && fault.kind !== 'latency') {
    const sent = faultAnswer(fault);
    // The partner acted; the answer never reached the caller as it was: an in-doubt call.
    record(sandbox, request, {
      ...entry,
      status: sent.status,
      ...(sent.body === undefined ? {} : { response: sent.body }),
      details: { ...entry.details, fault: fault.id, faultKind: fault.kind, answered: answer.body },
    });
    return act(fault, request, reply);
  }
  record(sandbox, request, entry);
  reply.code(answer.status);
  if (answer.headers) reply.headers(answer.headers);
  if (answer.contentType) reply.type(answer.contentType);
  return reply.send(answer.body);
}

const VERBOSE = new Set(['debug', 'trace']);

function record(sandbox: SandboxState, request: FastifyRequest, entry: NewEntry): void {
  sandbox.log.push(entry);
  // Hot path: a debug line only, built only when it will be written; the URL loses `a` and `bs`.
  if (VERBOSE.has(request.log.level)) {
    request.log.debug(
      { partner: entry.partner, url: redactUrl(entry.url), status: entry.status, outcome: entry.outcome },
      'partner request',
    );
  }
}

function faultAnswer(fault: FaultAction): { status: number; body: unknown } {
  if (fault.kind === 'error')
    return { status: fault.status, body: fault.body ?? { error: 'sandbox fault', status: fault.status } };
  return { status: 0, body: undefined };
}

function act(fault: FaultAction, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  switch (fault.kind) {
    case 'error': {
      const { status, body } = faultAnswer(fault);
      if (fault.retryAfter !== undefined) reply.header('retry-after', String(fault.retryAfter));
      return reply.code(status).send(body);
    }
    case 'timeout':
      // Take the socket from Fastify and never write to it: the caller waits until it gives up.
      // The server's close (forceCloseConnections) ends it.
      reply.hijack();
      return undefined;
    case 'drop':
      reply.hijack();
      request.raw.socket.destroy();
      return undefined;
    default:
      return undefined;
  }
}
