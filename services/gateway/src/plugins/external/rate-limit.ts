/**
 * Per-app rate limit on the routes that opt in with `config.rateLimit` (the app routes). It runs at
 * preParsing, after authentication (onRequest) and before the body is read, keyed by app id. The
 * counters live in this process: with N gateway instances an app gets up to N × the limit.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError } from '../../errors.js';

export interface RateLimitOptions {
  perSecond: number;
}

export default fp(
  async (fastify: FastifyInstance, { perSecond }: RateLimitOptions) => {
    await fastify.register(rateLimit, {
      global: false,
      hook: 'preParsing',
      max: perSecond,
      timeWindow: 1000,
      keyGenerator: (request) => request.auth?.app.id ?? request.ip,
      errorResponseBuilder: (_request, context) =>
        new GatewayError('RATE_LIMITED', `more than ${context.max} requests per second for this app; retry in ${context.after}`),
    });
  },
  { name: 'rate-limit' },
);
