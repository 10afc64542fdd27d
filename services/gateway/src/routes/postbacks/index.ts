/**
 * POST /v1/postbacks/singular/{app}: Singular Internal BI postbacks (install, re-engagement, event)
 * into the device graph, for hybrid integrations (the SDK talks to Singular; the relay's later
 * server-side events need the device's identifiers).
 *
 * Authentication: the app's postback secret (`s2s-relay apps postback-secret <id>`) in the `key`
 * query parameter (Singular's postback URL is all it can be given; `key` is redacted from logs), or in
 * `X-Postback-Secret`. A wrong secret, an unknown or disabled app, or an app without a secret are one
 * answer (401), so the route tells nothing about which apps exist.
 *
 * Idempotent: the key is `postback_id` when given, else the hash of the body (key order ignored); a
 * repeat answers 200 with `duplicate: true` and changes nothing. Singular retries 5xx answers only,
 * so a 400 (every failing field listed) is final and a 503 (Postgres down) is retried.
 */
import { bodyHash } from '@s2s/contracts';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../errors.js';
import { problemSchema } from '../../schemas.js';
import { attributionOf, parsePostback } from './schema.js';

export interface PostbacksOptions {
  retryAfterSeconds: number;
}

function secretOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-postback-secret'];
  if (typeof header === 'string' && header) return header;
  const key = (request.query as Record<string, unknown> | undefined)?.key;
  return typeof key === 'string' && key ? key : undefined;
}

export default async function postbacks(fastify: FastifyInstance, { retryAfterSeconds }: PostbacksOptions) {
  const unavailable = (cause: unknown) =>
    new GatewayError('DATABASE_UNAVAILABLE', 'the postback could not be stored', { cause, retryAfter: retryAfterSeconds });

  fastify.post<{ Params: { app: string } }>(
    '/v1/postbacks/singular/:app',
    {
      schema: {
        summary: 'Singular Internal BI postback (install, re-engagement, event) into the device graph',
        params: { type: 'object', properties: { app: { type: 'string' } }, required: ['app'] },
        querystring: { type: 'object', properties: { key: { type: 'string', description: "the app's postback secret" } } },
        body: { type: 'object', additionalProperties: true },
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string' }, duplicate: { type: 'boolean' }, deviceKey: { type: 'string' } },
          },
          '4xx': problemSchema,
          '5xx': problemSchema,
        },
      },
    },
    async (request) => {
      const appId = request.params.app;
      const secret = secretOf(request);
      if (!secret)
        throw new GatewayError('POSTBACK_SECRET_INVALID', 'no postback secret (key query parameter or X-Postback-Secret)');
      let ok: boolean;
      try {
        ok = await fastify.privacy.settings.verifyPostbackSecret(appId, secret);
      } catch (cause) {
        throw unavailable(cause);
      }
      if (!ok) throw new GatewayError('POSTBACK_SECRET_INVALID');
      request.logFields.app = appId;

      const parsed = parsePostback(request.body);
      if (parsed.errors) {
        const { errors } = parsed;
        throw new GatewayError('VALIDATION_FAILED', `${errors.length} field(s) are not valid`, { errors });
      }
      const p = parsed.postback;
      let result: Awaited<ReturnType<typeof fastify.privacy.postbacks.ingest>>;
      try {
        result = await fastify.privacy.postbacks.ingest({
          appId,
          postbackKey: p.postback_id ? `id:${p.postback_id}` : `sha256:${bodyHash(request.body)}`,
          eventType: p.event_type,
          eventName: p.event_name,
          eventAtMs: p.event_time,
          platform: p.platform,
          installId: p.install_id,
          ids: { idfa: p.idfa, idfv: p.idfv, aifa: p.aifa, asid: p.asid, andi: p.andi, amid: p.amid, oaid: p.oaid },
          customUserId: p.custom_user_id,
          attribution: attributionOf(p),
        });
      } catch (cause) {
        throw unavailable(cause);
      }
      request.logFields.deviceKey = result.deviceKey;
      request.logFields.outcome = result.duplicate ? 'duplicate' : 'stored';
      return { status: 'ok', duplicate: result.duplicate, deviceKey: result.deviceKey };
    },
  );
}
