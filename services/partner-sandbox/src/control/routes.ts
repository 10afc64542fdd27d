/**
 * The control plane, under `/_sandbox`: scenarios, the request log, faults, Onside key rotation
 * and forgeries, a full reset. Bodies and queries are checked with zod (400 problem+json naming
 * every failing field). See README.md for the shapes.
 */

import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { OathScenarios } from '../oath/store.js';
import { ForgeRequest, OnsideScenarios } from '../onside/store.js';
import { PARTNERS } from '../request-log.js';
import { SingularScenarios } from '../singular/store.js';
import { FaultRule } from './faults.js';
import { parseOr400, sendProblem } from './validation.js';

const Scenarios = z
  .object({ singular: SingularScenarios.optional(), oath: OathScenarios.optional(), onside: OnsideScenarios.optional() })
  .strict();

const PartnerQuery = z.object({ partner: z.enum(PARTNERS).optional() }).strict();
const PartnerOrAllQuery = z.object({ partner: z.enum([...PARTNERS, 'all']).optional() }).strict();
const RequestsQuery = z
  .object({
    partner: z.enum(PARTNERS).optional(),
    device: z.string().min(1).optional(),
    since: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).optional(),
  })
  .strict();
const RotateKey = z
  .object({ kid: z.string().min(1).optional(), keepOld: z.boolean().default(true) })
  .strict()
  .default({ keepOld: true });

const routes: FastifyPluginAsync = async (app) => {
  const { sandbox } = app;

  app.setErrorHandler((err: { statusCode?: number; message: string }, _request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return sendProblem(reply, status, status === 500 ? 'Internal Server Error' : 'Bad Request', err.message);
  });

  app.post('/scenarios', async (request, reply) => {
    const s = parseOr400(reply, Scenarios, request.body ?? {}, 'scenarios');
    if (!s) return reply;
    if (s.singular) sandbox.singular.addScenarios(s.singular);
    if (s.oath) sandbox.oath.addScenarios(s.oath);
    if (s.onside) sandbox.onside.addScenarios(s.onside, sandbox.clock());
    return reply.code(201).send(scenarioView());
  });
  app.get('/scenarios', async () => scenarioView());
  app.delete('/scenarios', async (request, reply) => {
    const q = parseOr400(reply, PartnerQuery, request.query, 'query');
    if (!q) return reply;
    if (!q.partner || q.partner === 'singular') sandbox.singular.clearScenarios();
    if (!q.partner || q.partner === 'oath') sandbox.oath.clearScenarios();
    if (!q.partner || q.partner === 'onside') sandbox.onside.clearScenarios();
    return reply.code(204).send();
  });

  app.get('/requests', async (request, reply) => {
    const q = parseOr400(reply, RequestsQuery, request.query, 'query');
    if (!q) return reply;
    return sandbox.log.list(q);
  });
  app.delete('/requests', async (_request, reply) => {
    sandbox.log.clear();
    return reply.code(204).send();
  });
  app.get('/stats', async () => ({
    logSize: sandbox.log.size,
    partners: sandbox.log.counters(),
    singularDevices: sandbox.singular.devices.size,
    oathRequestIds: sandbox.oath.answers.size,
    onsideInstallations: sandbox.onside.installations.size,
  }));

  app.post('/faults', async (request, reply) => {
    // One rule or a list; parsed by shape so a failing field is named, not lost in a union.
    const rules = Array.isArray(request.body)
      ? parseOr400(reply, z.array(FaultRule).min(1), request.body, 'faults')
      : parseOr400(reply, FaultRule, request.body, 'fault');
    if (!rules) return reply;
    return reply.code(201).send({ faults: sandbox.faults.add(Array.isArray(rules) ? rules : [rules]) });
  });
  app.get('/faults', async () => ({ faults: sandbox.faults.list() }));
  app.delete('/faults', async (request, reply) => {
    const q = parseOr400(reply, PartnerOrAllQuery, request.query, 'query');
    if (!q) return reply;
    sandbox.faults.clear(q.partner);
    return reply.code(204).send();
  });

  app.post('/onside/rotate-key', async (request, reply) => {
    const r = parseOr400(reply, RotateKey, request.body ?? undefined, 'rotation');
    if (!r) return reply;
    const key = await sandbox.onside.keys.rotate(r.kid, r.keepOld);
    return { kid: key.kid, published: sandbox.onside.keys.kids() };
  });
  app.post('/onside/forge', async (request, reply) => {
    const f = parseOr400(reply, ForgeRequest, request.body, 'forgery');
    if (!f) return reply;
    sandbox.onside.forges.push(f);
    return reply.code(201).send({ forges: sandbox.onside.forges });
  });
  app.get('/onside/forge', async () => ({ forges: sandbox.onside.forges }));
  app.delete('/onside/forge', async (_request, reply) => {
    sandbox.onside.forges = [];
    return reply.code(204).send();
  });

  app.post('/reset', async (_request, reply) => {
    sandbox.reset();
    return reply.code(204).send();
  });

  function scenarioView() {
    return {
      singular: sandbox.singular.scenarios,
      oath: sandbox.oath.scenarios,
      onside: {
        storeSessions: sandbox.onside.sessions.map(({ timeMs, ...s }) => ({ ...s, time: new Date(timeMs).toISOString() })),
      },
    };
  }
};

/** Encapsulated (its content-type parsers and error handler stay inside), mounted under a prefix. */
export const controlRoutes = fp(routes, { name: 'control-routes', dependencies: ['sandbox-state'], encapsulate: true });
