/**
 * GET /v1/requests/{id}: where a record is and what the partners answered. The intake row says it was
 * received (and whether Kafka confirmed it); the workers' outcomes say the rest. Another app's
 * request is answered 404, as if it did not exist.
 */
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../errors.js';
import { repliesView, statusOf } from '../../replies/view.js';
import { problemSchema, requestViewSchema } from '../../schemas.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface RequestsOptions {
  retryAfterSeconds: number;
}

export default async function requests(fastify: FastifyInstance, { retryAfterSeconds }: RequestsOptions) {
  fastify.addHook('onRequest', fastify.requireApp);

  fastify.get<{ Params: { id: string } }>(
    '/v1/requests/:id',
    {
      config: { rateLimit: {} },
      schema: {
        summary: "Status of a record and the partners' replies",
        params: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, required: ['id'] },
        response: {
          200: {
            ...requestViewSchema,
            properties: {
              ...requestViewSchema.properties,
              kind: { type: 'string', enum: ['session', 'event'] },
              deviceKey: { type: 'string' },
              acceptedAt: { type: 'string', format: 'date-time' },
              consent: {
                type: 'object',
                description: "the device's latest data-sharing choice (absent when it never said)",
                properties: { limitDataSharing: { type: 'boolean' }, at: { type: 'string', format: 'date-time' } },
              },
            },
          },
          '4xx': problemSchema,
        },
      },
    },
    async (request) => {
      const app = request.auth!.app;
      const { id } = request.params;
      const notFound = new GatewayError('REQUEST_NOT_FOUND', `no request ${id} for app ${app.id}`);
      if (!UUID.test(id)) throw notFound;
      let row: Awaited<ReturnType<typeof fastify.intakeRepo.get>>;
      let outcomes: Awaited<ReturnType<typeof fastify.outcomes.forRequest>>;
      let consent: Awaited<ReturnType<typeof fastify.privacy.consent.consentFor>>;
      try {
        [row, outcomes] = await Promise.all([fastify.intakeRepo.get(id), fastify.outcomes.forRequest(id)]);
        consent = row && row.appId === app.id ? await fastify.privacy.consent.consentFor(app.id, row.deviceKey) : undefined;
      } catch (cause) {
        throw new GatewayError('DATABASE_UNAVAILABLE', 'the request could not be read', { cause, retryAfter: retryAfterSeconds });
      }
      if (!row || row.appId !== app.id) throw notFound;
      request.logFields.requestId = id;
      const replies = outcomes.map((o) => o.reply);
      return {
        requestId: id,
        kind: row.kind,
        deviceKey: row.deviceKey,
        acceptedAt: row.acceptedAt.toISOString(),
        status: statusOf(row.produced, replies),
        replies: repliesView(replies),
        // A device that refused sharing shows it on every record (consent is per device, carried forward).
        ...(consent ? { consent: { limitDataSharing: consent.limitDataSharing, at: new Date(consent.atMs).toISOString() } } : {}),
      };
    },
  );
}
