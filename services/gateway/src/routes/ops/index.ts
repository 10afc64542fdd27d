/**
 * The operations surface behind the single edge: /ops/* requires `X-Admin-Key` (ADMIN_KEY) and
 * proxies to internal services that have no business being exposed on their own:
 *   /ops/sandbox/*  → the partner sandbox's /_sandbox/* (scenarios, request log, faults);
 *   /ops/workers/*  → a worker's ops port (its health, metrics and lane state).
 * The admin key is checked in constant time and removed before the request goes upstream, with the
 * client's Authorization and X-Api-Key. Registered only when ADMIN_KEY is set.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import httpProxy from '@fastify/http-proxy';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';

export interface OpsOptions {
  adminKey: string;
  sandboxUrl: string | undefined;
  workerOpsUrl: string | undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export default async function ops(fastify: FastifyInstance, { adminKey, sandboxUrl, workerOpsUrl }: OpsOptions) {
  const expected = digest(adminKey);
  fastify.addHook('onRequest', async (request) => {
    const given = request.headers['x-admin-key'];
    if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) throw new GatewayError('ADMIN_KEY_INVALID');
  });

  const replyOptions = {
    rewriteRequestHeaders: (_request: unknown, headers: IncomingHttpHeaders): IncomingHttpHeaders => {
      const { 'x-admin-key': _a, authorization: _b, 'x-api-key': _c, ...rest } = headers;
      return rest;
    },
  };
  // The proxy passes bodies through untouched with parsers of its own; the gateway's strict JSON
  // parser (app.ts) must not stand in its way in this context.
  fastify.removeContentTypeParser('application/json');
  if (sandboxUrl)
    await fastify.register(httpProxy, { upstream: sandboxUrl, prefix: '/ops/sandbox', rewritePrefix: '/_sandbox', replyOptions });
  if (workerOpsUrl) await fastify.register(httpProxy, { upstream: workerOpsUrl, prefix: '/ops/workers', replyOptions });
}
