/**
 * Operator routes under /v1/admin, behind the admin key (X-Admin-Key = ADMIN_KEY, compared in
 * constant time); registered only when ADMIN_KEY is set.
 *
 *   POST /v1/admin/privacy/erase     {appId, device, requestedBy}: erase what the relay holds about a
 *                                    device (see @s2s/store privacy.ts); 200 with one erasure per device
 *   GET  /v1/admin/privacy/erasures  ?appId=: the erasure audit log, newest first
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { fieldErrors, RelayError } from '@s2s/contracts';
import type { Erasure } from '@s2s/store';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError } from '../../errors.js';
import { problemSchema } from '../../schemas.js';

export interface AdminOptions {
  adminKey: string;
  retryAfterSeconds: number;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

const EraseBody = z
  .object({
    appId: z.string().min(1).max(63),
    /** A device key, `kind:value` (idfa, idfv, aifa, asid, andi, amid, oaid, custom_user_id, install_id) or a bare identifier. */
    device: z.string().min(1).max(300),
    /** Who asked (operator, ticket id): kept in the audit log. */
    requestedBy: z.string().min(1).max(200),
  })
  .strict();

const view = (e: Erasure) => ({
  id: e.id,
  appId: e.appId,
  deviceKey: e.deviceKey,
  requestedBy: e.requestedBy,
  lookupKind: e.lookupKind,
  erasedAt: e.erasedAt.toISOString(),
  counts: e.counts,
});

export default async function admin(fastify: FastifyInstance, { adminKey, retryAfterSeconds }: AdminOptions) {
  const expected = digest(adminKey);
  fastify.addHook('onRequest', async (request) => {
    const given = request.headers['x-admin-key'];
    if (typeof given !== 'string' || !timingSafeEqual(digest(given), expected)) throw new GatewayError('ADMIN_KEY_INVALID');
  });
  const unavailable = (cause: unknown) =>
    new GatewayError('DATABASE_UNAVAILABLE', 'the erasure could not run', { cause, retryAfter: retryAfterSeconds });

  fastify.post(
    '/v1/admin/privacy/erase',
    {
      schema: {
        summary: 'Erase what the relay holds about a device (X-Admin-Key)',
        body: {
          type: 'object',
          properties: { appId: { type: 'string' }, device: { type: 'string' }, requestedBy: { type: 'string' } },
          required: ['appId', 'device', 'requestedBy'],
        },
        response: { '4xx': problemSchema, '5xx': problemSchema },
      },
    },
    async (request) => {
      const parsed = EraseBody.safeParse(request.body);
      if (!parsed.success) {
        const errors = fieldErrors(parsed.error);
        throw new GatewayError('VALIDATION_FAILED', `${errors.length} field(s) are not valid`, { errors });
      }
      let erasures: Erasure[];
      try {
        erasures = await fastify.privacy.erasure.erase(parsed.data);
      } catch (err) {
        if (err instanceof RelayError && err.code === 'DEVICE_NOT_FOUND') throw new GatewayError('DEVICE_NOT_FOUND', err.message);
        throw unavailable(err);
      }
      request.logFields.app = parsed.data.appId;
      request.logFields.outcome = 'erased';
      return { erasures: erasures.map(view) };
    },
  );

  fastify.get<{ Querystring: { appId?: string } }>(
    '/v1/admin/privacy/erasures',
    {
      schema: {
        summary: 'The erasure audit log, newest first (X-Admin-Key)',
        querystring: { type: 'object', properties: { appId: { type: 'string' } } },
      },
    },
    async (request) => {
      try {
        return { erasures: (await fastify.privacy.erasure.erasures(request.query.appId)).map(view) };
      } catch (cause) {
        throw unavailable(cause);
      }
    },
  );
}
