/**
 * Oath / Yahoo Native & Search emulator: `GET /appinstall` (spec §2, §2.7), mounted under `/oath`.
 * Order of checks: the signature over the raw query (403), then the fields (400), then the answer:
 * 200 with `original_request`, `network_id` and, on a match, `claims`. A repeated `id` gets the
 * answer it got the first time.
 */

import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { type Answer, decodeParams, type Inspected, serve, splitUrl } from '../serve.js';
import { verifyOathQuery } from './signature.js';
import { checkInstall } from './validate.js';

const routes: FastifyPluginAsync = async (app) => {
  const { sandbox } = app;
  const key = sandbox.config.SANDBOX_OATH_KEY;
  const networkId = sandbox.config.SANDBOX_OATH_NETWORK_ID;

  app.get('/appinstall', async (request, reply) => {
    const url = request.raw.url ?? request.url;
    const { rawQuery } = splitUrl(url);
    const { params, repeated } = decodeParams(rawQuery);
    const mi = params.mi?.toLowerCase();
    const inspected: Inspected = { bodyText: null, bodyKind: null, deviceKey: mi ?? null, devices: mi ? [mi] : [] };

    return serve(sandbox, 'oath', request, reply, inspected, (): Answer => {
      const sig = verifyOathQuery(rawQuery, key);
      if (!sig.ok) {
        return {
          status: 403,
          body: { error: 'invalid signature' },
          outcome: 'rejected',
          reason: sig.why,
          warnings: [],
          duplicate: false,
        };
      }
      const check = checkInstall(params, repeated);
      const details: Record<string, unknown> = { ua: check.ua ?? null, gdprViolation: check.gdprViolation };
      if (check.error !== undefined) {
        return {
          status: 400,
          body: { error: check.error },
          outcome: 'rejected',
          reason: check.error,
          warnings: check.warnings,
          duplicate: false,
          details,
        };
      }
      const previous = sandbox.oath.answers.get(params.id!);
      if (previous) {
        return {
          status: 200,
          body: previous.body,
          outcome: previous.outcome,
          warnings: check.warnings,
          duplicate: true,
          details,
        };
      }
      const ips = [params.ip, params.ipv6].filter((x): x is string => x !== undefined && x !== '');
      const claims = sandbox.oath.claimsFor(check.zeroMi ? undefined : params.mi, ips, Number(params.it));
      const body: Record<string, unknown> = { original_request: `${request.protocol}://${request.host}${url}` };
      if (claims.length > 0) body.claims = claims;
      body.network_id = networkId;
      const outcome = claims.length > 0 ? 'claimed' : 'no-match';
      sandbox.oath.answers.set(params.id!, { body, outcome });
      return { status: 200, body, outcome, warnings: check.warnings, duplicate: false, details };
    });
  });
};

/** Encapsulated (its content-type parsers and error handler stay inside), mounted under a prefix. */
export const oathRoutes = fp(routes, { name: 'oath-routes', dependencies: ['sandbox-state'], encapsulate: true });
