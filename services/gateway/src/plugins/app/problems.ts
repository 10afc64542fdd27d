/**
 * Every error answer is RFC 9457 `application/problem+json` with a stable `code` from ../../errors.ts.
 * Fastify's own errors (content type, body size, JSON syntax) and the rate limiter's are mapped to
 * that catalogue here, in one place.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError, problemOf } from '../../errors.js';

function toGatewayError(err: FastifyError | GatewayError): GatewayError {
  if (err instanceof GatewayError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'send Content-Type: application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('BODY_TOO_LARGE', 'the body exceeds BODY_LIMIT_BYTES');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('MALFORMED_JSON', err.message);
    case 'RATE_LIMITED':
      return new GatewayError('RATE_LIMITED', err.message);
  }
  // @fastify/reply-from (the /ops proxies) and undici: the upstream could not be reached.
  if (err.code?.startsWith('FST_REPLY_FROM_') || err.code?.startsWith('UND_ERR_') || err.code === 'ECONNRESET')
    return new GatewayError('UPSTREAM_UNAVAILABLE', err.message, { cause: err });
  if (err.statusCode === 400 && err instanceof SyntaxError) return new GatewayError('MALFORMED_JSON', err.message);
  if (err.statusCode === 415) return new GatewayError('UNSUPPORTED_MEDIA_TYPE', err.message);
  if (err.statusCode === 413) return new GatewayError('BODY_TOO_LARGE', err.message);
  return new GatewayError('INTERNAL', 'internal error', { cause: err });
}

export async function sendProblem(request: FastifyRequest, reply: FastifyReply, err: GatewayError) {
  if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
  request.logFields ??= {};
  request.logFields.outcome ??= err.code;
  return reply
    .code(err.status ?? 500)
    .type('application/problem+json')
    .send(problemOf(err, request.url.split('?')[0]));
}

export default fp(
  async (fastify: FastifyInstance) => {
    fastify.setErrorHandler(async (error: FastifyError | GatewayError, request, reply) => {
      const err = toGatewayError(error);
      if (err.code === 'INTERNAL') request.log.error({ err: error }, 'unexpected error');
      else if (err.status === 503 || err.status === 502)
        request.log.warn({ err: err.cause ?? err, code: err.code }, 'dependency unavailable');
      return sendProblem(request, reply, err);
    });
    fastify.setNotFoundHandler(async (request, reply) =>
      sendProblem(request, reply, new GatewayError('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
    );
  },
  { name: 'problems', dependencies: ['request-log'] },
);
