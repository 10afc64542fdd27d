/**
 * Singular emulator: SESSION `/api/v1/launch` and EVENT `/api/v1/evt` (spec §1, §1.11), mounted
 * under `/singular`. GET with a query string, or POST with an `application/x-www-form-urlencoded`
 * body (S4). Every validation outcome is HTTP 200 with `{"status":"ok"|"error", ...}` (S1);
 * only an injected fault answers otherwise.
 */

import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type Answer, decodeParams, type Inspected, serve, splitUrl } from '../serve.js';
import { readDeviceIds } from './params.js';
import type { RequestFacts } from './store.js';
import { checkRequest, type Endpoint } from './validate.js';

const FORM = 'application/x-www-form-urlencoded';

const routes: FastifyPluginAsync = async (app) => {
  const { sandbox } = app;
  const opts = { strict: sandbox.config.SANDBOX_STRICT, ipv6: sandbox.config.SANDBOX_SINGULAR_IPV6 };

  // Singular answers every body with its envelope, so no body is refused at parsing: keep it as text.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const handler = (endpoint: Endpoint) => async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.raw.url ?? request.url;
    const { path, rawQuery } = splitUrl(url);
    const bodyText = typeof request.body === 'string' ? request.body : '';
    const isForm = request.method === 'POST' && mediaType(request.headers['content-type']) === FORM;
    const rawParams = isForm && bodyText !== '' ? (rawQuery === '' ? bodyText : `${rawQuery}&${bodyText}`) : rawQuery;
    const { params, repeated } = decodeParams(rawParams);
    const ids = readDeviceIds(params);
    const inspected: Inspected = {
      bodyText: bodyText === '' ? null : bodyText,
      bodyKind: isForm ? 'form' : 'text',
      deviceKey: ids.key,
      devices: ids.all,
    };

    return serve(sandbox, 'singular', request, reply, inspected, (): Answer => {
      const verdict = checkRequest(endpoint, params, ids, { query: rawParams, repeated }, opts);
      const warnings = verdict.warnings;
      if (bodyText !== '' && !isForm) warnings.push(`body: ignored (content-type ${request.headers['content-type'] ?? 'none'})`);
      if (verdict.error !== undefined) {
        return {
          status: 200,
          body: { status: 'error', reason: verdict.error },
          outcome: 'rejected',
          reason: verdict.error,
          warnings,
          duplicate: false,
        };
      }
      const appId = params.i!;
      const key = ids.key!;
      const duplicate = sandbox.singular.seenBefore(path, key, rawParams);
      const facts: RequestFacts = {
        endpoint: endpoint === 'launch' ? 'launch' : 'evt',
        app: appId,
        ip: params.ip?.trim(),
        devices: ids.all,
        event: params.n,
        openuri: params.openuri,
      };
      const details: Record<string, unknown> = { eventTime: eventTime(params, sandbox.clock()) };
      let outcome: string;
      const body: Record<string, unknown> = { status: 'ok', ...sandbox.singular.extraFields(facts) };

      if (endpoint === 'launch') {
        const device = sandbox.singular.ensureDevice(appId, key);
        if (device.sessions === 0) {
          // The first session of a device is its install, whatever the flag says.
          outcome = 'install';
          device.installs++;
          device.firstSessionAt = sandbox.clock();
          if (params.install !== 'true') warnings.push('install: the first session of this device does not say install=true');
        } else if (params.install === 'true') {
          outcome = 'reinstall';
          device.installs++;
        } else outcome = 'session';
        device.sessions++;
        if (params.install === 'true' && params.ddl_enabled === 'true') {
          const ddl = sandbox.singular.findDdl(facts);
          if (ddl) {
            body.deferred_deeplink = ddl.deferred_deeplink;
            if (ddl.deferred_passthrough !== undefined) body.deferred_passthrough = ddl.deferred_passthrough;
            details.ddl = true;
          }
        }
        if (params.singular_link_resolve_required === 'true') {
          const link = sandbox.singular.findShortLink(facts);
          if (link) body.resolved_singular_link = link.resolved_singular_link;
          else warnings.push('openuri: not a known short link');
        }
      } else {
        const device = sandbox.singular.ensureDevice(appId, key);
        if (device.sessions === 0) {
          // Singular accepts it and attributes it as organic (§1.1); the relay must never let this happen.
          outcome = 'organic';
          warnings.push('event-before-session');
          device.eventsBeforeSession++;
        } else {
          outcome = 'event';
          device.events++;
        }
      }
      return { status: 200, body, outcome, warnings, duplicate, deviceKey: key, details };
    });
  };

  for (const [path, endpoint] of [
    ['/api/v1/launch', 'launch'],
    ['/api/v1/evt', 'evt'],
  ] as const) {
    app.get(path, handler(endpoint));
    app.post(path, handler(endpoint));
  }
  if (sandbox.config.SANDBOX_SINGULAR_V2_EVT) {
    app.get('/api/v2/evt', handler('evt2'));
    app.post('/api/v2/evt', handler('evt2'));
  }
};

/** Encapsulated (its content-type parsers and error handler stay inside), mounted under a prefix. */
export const singularRoutes = fp(routes, { name: 'singular-routes', dependencies: ['sandbox-state'], encapsulate: true });

export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}

/** When the session or event happened (S9): `umilisec`, then `utime`, then the receive time. */
function eventTime(q: Record<string, string>, now: number): string {
  if (q.umilisec && /^\d{13}$/.test(q.umilisec)) return new Date(Number(q.umilisec)).toISOString();
  if (q.utime && /^\d{10}$/.test(q.utime)) return new Date(Number(q.utime) * 1000).toISOString();
  return new Date(now).toISOString();
}
