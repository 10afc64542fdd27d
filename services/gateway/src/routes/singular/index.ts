/**
 * Singular drop-in: GET /api/v1/launch (session) and /api/v1/evt (event) with Singular's own query
 * parameters (./../../singular/params.ts), so existing S2S code only changes its base URL. The app's
 * relay API key replaces the Singular SDK key in `a` (or comes in the usual headers); the app id
 * comes from the key.
 *
 * Answers follow Singular where it makes sense: 200 `{"status":"ok", requestId, …}` once Kafka has
 * the record, with Singular's answer fields (deferred_deeplink, deferred_passthrough,
 * resolved_singular_link) when `Prefer: wait` brought them, and every partner's reply under `s2s`.
 * The status stays 200 even when the wait timed out (`s2s.complete: false`): Singular clients read
 * any other status as "retry". Errors are problem+json with Singular's parameter names as fields.
 */
import { EventRecord, fieldErrors, type RecordKind, SessionRecord } from '@s2s/contracts';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import { idempotencyHeader } from '../../intake/headers.js';
import { repliesView, singularFields, statusOf } from '../../replies/view.js';
import { problemSchema } from '../../schemas.js';
import { fromSingularQuery } from '../../singular/params.js';
import { acceptedHeaders, waitSecondsOf } from '../answers.js';

export interface SingularOptions {
  maxWaitSeconds: number;
}

export default async function singular(fastify: FastifyInstance, { maxWaitSeconds }: SingularOptions) {
  fastify.addHook('onRequest', fastify.requireApp);

  for (const [kind, path] of [
    ['session', '/api/v1/launch'],
    ['event', '/api/v1/evt'],
  ] as const satisfies [RecordKind, string][]) {
    fastify.get(
      path,
      {
        config: { intake: true, queryKey: true, rateLimit: {} },
        schema: {
          summary: `Singular drop-in ${kind === 'session' ? 'SESSION' : 'EVENT'} (Singular's query parameters; the relay API key in \`a\`)`,
          response: { '4xx': problemSchema, '5xx': problemSchema },
        },
      },
      async (request, reply) => {
        const app = request.auth!.app;
        const mapped = fromSingularQuery(kind, request.query as Record<string, string | string[] | undefined>, app.id);
        const parsed = (kind === 'session' ? SessionRecord : EventRecord).safeParse(mapped.candidate);
        const errors = [...mapped.errors];
        if (!parsed.success) {
          const taken = new Set(errors.map((e) => e.field));
          for (const e of fieldErrors(parsed.error)) {
            const field = mapped.paramOf(e.field);
            // A parameter whose conversion failed is reported once, by the conversion.
            if (!taken.has(field)) errors.push({ field, message: e.message });
          }
        }
        if (errors.length > 0 || !parsed.success) {
          fastify.metrics.records.inc({ result: 'invalid' });
          throw new GatewayError('VALIDATION_FAILED', `${errors.length} parameter(s) are not valid`, { errors });
        }
        const waitSeconds = waitSecondsOf(request, maxWaitSeconds);
        const accepted = await fastify.acceptOne(request, reply, {
          kind,
          record: parsed.data,
          idempotencyHeader: idempotencyHeader(request.headers['idempotency-key']),
          waitSeconds,
        });
        acceptedHeaders(reply, accepted, waitSeconds);
        return reply.code(200).send({
          ...singularFields(accepted.replies.find((r) => r.partner === 'singular')),
          status: 'ok',
          requestId: accepted.requestId,
          s2s: {
            status: statusOf(true, accepted.replies),
            complete: accepted.complete,
            replies: repliesView(accepted.replies),
          },
        });
      },
    );
  }
}
