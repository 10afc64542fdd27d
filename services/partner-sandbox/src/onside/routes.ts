/**
 * Onside emulator (spec §3, §3.6), mounted under `/onside`:
 * - `POST /merchant-api/v1/attribution/install`: JSON body → 200 `application/jose` compact JWS;
 *   400 / 415 problem JSON for a bad body or content type (S-N3); 401 only when a bearer token is
 *   configured (S-N1).
 * - `GET /.well-known/jwks.json`: the published keys.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { type Answer, type Inspected, serve } from '../serve.js';
import { matchInstall } from './matching.js';
import type { Installation } from './store.js';
import { signAttribution } from './token.js';

const InstallBody = z.object({
  token: z.string().min(1),
  bundle_id: z.string().min(1),
  device_model: z.string().min(1),
  os_version: z.string().min(1),
  language: z.string().min(1),
  availableCapacity: z.number().int().nonnegative().optional(),
});

const PROBLEM = 'application/problem+json';

function problem(status: number, title: string, detail: string, errors?: { field: string; message: string }[]): Answer {
  return {
    status,
    contentType: PROBLEM,
    body: { type: 'about:blank', title, status, detail, ...(errors ? { errors } : {}) },
    outcome: 'rejected',
    reason: detail,
    warnings: [],
    duplicate: false,
  };
}

const routes: FastifyPluginAsync = async (app) => {
  const { sandbox } = app;
  const cfg = sandbox.config;

  // Every body reaches the handler as text, so content type and JSON errors get Onside's answers.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.post('/merchant-api/v1/attribution/install', async (request, reply) => {
    const text = typeof request.body === 'string' ? request.body : '';
    let json: unknown;
    let parsed = false;
    try {
      json = JSON.parse(text);
      parsed = true;
    } catch {}
    const token = parsed && isRecord(json) && typeof json.token === 'string' ? json.token : undefined;
    const inspected: Inspected = {
      bodyText: text === '' ? null : text,
      bodyKind: parsed ? 'json' : 'text',
      deviceKey: token?.toLowerCase() ?? null,
      devices: token ? [token.toLowerCase()] : [],
    };

    return serve(sandbox, 'onside', request, reply, inspected, async (): Promise<Answer> => {
      if (cfg.SANDBOX_ONSIDE_BEARER !== undefined && request.headers.authorization !== `Bearer ${cfg.SANDBOX_ONSIDE_BEARER}`)
        return problem(401, 'Unauthorized', 'a valid bearer token is required');
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/json') return problem(415, 'Unsupported Media Type', 'the body must be application/json');
      if (!parsed) return problem(400, 'Bad Request', 'the body is not valid JSON');
      const body = InstallBody.safeParse(json);
      if (!body.success) {
        const errors = body.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
        return problem(400, 'Bad Request', `invalid fields: ${errors.map((e) => e.field).join(', ')}`, errors);
      }
      const b = body.data;
      const now = sandbox.clock();
      const clientIp = clientIpOf(request, cfg.SANDBOX_ONSIDE_IP_HEADER);
      const details: Record<string, unknown> = { clientIp };

      // S-N6: a known token gets its installation back, with a fresh jti/iat/exp.
      let installation = sandbox.onside.installations.get(b.token);
      const duplicate = installation !== undefined;
      if (installation) details.matchedBy = 'token';
      else {
        const match = matchInstall(sandbox.onside.sessions, clientIp, b, now);
        installation = {
          installationToken: randomUUID(),
          ...(match.user === undefined ? {} : { user: match.user }),
          ...(match.attribution_data === undefined ? {} : { attribution_data: match.attribution_data }),
        } satisfies Installation;
        sandbox.onside.installations.set(b.token, installation);
        Object.assign(details, { matchedBy: match.matchedBy, why: match.why, candidates: match.candidates });
      }
      const iat = Math.floor(now / 1000);
      const claims = {
        iss: cfg.SANDBOX_ONSIDE_ISS,
        aud: b.bundle_id,
        iat,
        exp: iat + cfg.SANDBOX_ONSIDE_TOKEN_TTL,
        jti: randomUUID(),
        request_token: b.token,
        installation_token: installation.installationToken,
        ...(installation.attribution_data === undefined ? {} : { attribution_data: installation.attribution_data }),
      };
      const forge = sandbox.onside.takeForge(b.token);
      const { jws, kid } = await signAttribution(sandbox.onside.keys, claims, forge);
      Object.assign(details, {
        user: installation.user ?? null,
        installationToken: installation.installationToken,
        jti: claims.jti,
        kid,
        forged: forge ?? null,
      });
      return {
        status: 200,
        contentType: 'application/jose',
        body: jws,
        outcome: installation.attribution_data ? 'attributed' : 'organic',
        warnings: [],
        duplicate,
        details,
      };
    });
  });

  app.get('/.well-known/jwks.json', async (request, reply) => {
    const inspected: Inspected = { bodyText: null, bodyKind: null, deviceKey: null, devices: [] };
    return serve(sandbox, 'onside', request, reply, inspected, () => ({
      status: 200,
      body: sandbox.onside.keys.jwks(),
      contentType: 'application/json',
      headers: { 'cache-control': 'no-cache' },
      outcome: 'jwks',
      warnings: [],
      duplicate: false,
      details: { kids: sandbox.onside.keys.kids() },
    }));
  });
};

/** Encapsulated (its content-type parsers and error handler stay inside), mounted under a prefix. */
export const onsideRoutes = fp(routes, { name: 'onside-routes', dependencies: ['sandbox-state'], encapsulate: true });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** First hop of the configured header (S-N2), else the socket's address; IPv4-mapped IPv6 unwrapped. */
export function clientIpOf(request: FastifyRequest, header: string): string {
  const h = request.headers[header];
  const first = (Array.isArray(h) ? h[0] : h)?.split(',')[0]?.trim();
  const ip = first || request.socket.remoteAddress || '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
