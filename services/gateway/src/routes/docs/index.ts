/** GET /docs/errors: the error catalogue, the target of every problem document's `type`. */
import type { FastifyInstance } from 'fastify';
import { ERRORS } from '../../errors.js';

export default async function docs(fastify: FastifyInstance) {
  fastify.get('/docs/errors', { schema: { summary: 'Every error code with its status, meaning and fix' } }, async () =>
    Object.entries(ERRORS).map(([code, e]) => ({ code, ...e })),
  );
}
