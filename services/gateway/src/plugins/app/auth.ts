/**
 * App authentication. The key comes in `Authorization: Bearer <key>` or `X-Api-Key`, and on routes
 * marked `config.queryKey` (the Singular drop-in routes) also in the `a` query parameter. Unknown or
 * revoked key, or a disabled app → 401. Results are cached (../../auth/cache.ts): a disabled app or a
 * revoked key stops being accepted within AUTH_CACHE_TTL_MS.
 * Route groups that need an app add `fastify.requireApp` as an onRequest hook; it sets `request.auth`.
 */
import { type App, createAppsRepo, type Pool } from '@s2s/store';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type AuthCache, createAuthCache } from '../../auth/cache.js';
import { GatewayError } from '../../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requireApp`. */
    auth: { app: App } | null;
  }
  interface FastifyInstance {
    requireApp(request: FastifyRequest): Promise<void>;
    authCache: AuthCache;
  }
  interface FastifyContextConfig {
    /** The API key may come in the `a` query parameter (Singular drop-in routes). */
    queryKey?: boolean;
  }
}

export interface AuthOptions {
  pool: Pool;
  ttlMs: number;
  max: number;
  now?: () => number;
  retryAfterSeconds: number;
}

function keyOf(request: FastifyRequest): string | undefined {
  const authorization = request.headers.authorization;
  if (authorization) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (m) return m[1];
  }
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header) return header;
  if (request.routeOptions.config.queryKey) {
    const a = (request.query as Record<string, unknown> | undefined)?.a;
    if (typeof a === 'string' && a) return a;
  }
  return undefined;
}

export default fp(
  async (fastify: FastifyInstance, { pool, ttlMs, max, now, retryAfterSeconds }: AuthOptions) => {
    const apps = createAppsRepo(pool);
    const cache = createAuthCache((key) => apps.authenticate(key), {
      ttlMs,
      max,
      ...(now ? { now } : {}),
      onResult: (result) => fastify.metrics.authCache.inc({ result }),
    });
    fastify.decorate('authCache', cache);
    fastify.decorateRequest('auth', null);
    fastify.decorate('requireApp', async (request: FastifyRequest) => {
      const key = keyOf(request);
      if (!key) throw new GatewayError('API_KEY_MISSING');
      let app: App | undefined;
      try {
        app = await cache.get(key);
      } catch (cause) {
        throw new GatewayError('DATABASE_UNAVAILABLE', 'the API key could not be checked', {
          cause,
          retryAfter: retryAfterSeconds,
        });
      }
      if (!app) throw new GatewayError('API_KEY_INVALID');
      request.logFields.app = app.id;
      if (app.status !== 'active') throw new GatewayError('APP_DISABLED', `app ${app.id} is disabled`);
      request.auth = { app };
    });
  },
  { name: 'auth', dependencies: ['metrics', 'request-log'] },
);
