/**
 * OpenAPI 3.1 from the routes' schemas (themselves generated from the contracts' zod schemas), with
 * Swagger UI at /docs and the document at /docs/json.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export default fp(
  async (fastify: FastifyInstance) => {
    await fastify.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 's2s-relay gateway',
          version: '0.1.0',
          description:
            'Server-to-server attribution relay: send sessions and events once, the relay forwards them to the partners ' +
            'in order and without duplicates. Errors are application/problem+json (see /docs/errors).',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer' },
            apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
          },
        },
        security: [{ bearer: [] }, { apiKey: [] }],
      },
      // The /ops proxies are an operator surface, not part of the public API.
      transform: ({ schema, url }) => ({ schema: url.startsWith('/ops') ? { ...schema, hide: true } : schema, url }),
    });
    await fastify.register(swaggerUi, { routePrefix: '/docs' });
  },
  { name: 'swagger' },
);
