import { exampleAndroidSession, exampleEvent, exampleIosSession } from '@s2s/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failure } from '../testing/failure.js';
import { json, startServer, type TestServer } from '../testing/server.js';
import type { PartnerLogger } from '../types.js';
import { buildSingularSessionQuery } from './build.js';
import { createSingularClient, type SingularClient } from './client.js';

const KEY = 'acme_SECRETKEY_sh868sdjv';
const app = { sdkKey: KEY, ddlEnabled: true };

describe('Singular client against a local server', () => {
  let server: TestServer;
  let client: SingularClient;
  const lines: object[] = [];
  const logger: PartnerLogger = { debug: (o) => lines.push(o), warn: (o) => lines.push(o) };
  beforeEach(async () => {
    server = await startServer((_q, res) => json(res, 200, { status: 'ok' }));
    lines.length = 0;
    client = createSingularClient({ baseUrl: `${server.url}/`, timeoutMs: 2_000, logger });
  });
  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('GETs /api/v1/launch with the built query and returns the typed answer and a redacted URL', async () => {
    server.handle((_q, res) => json(res, 200, { status: 'ok', deferred_deeplink: 'myapp://promo', conversion_value: 3 }));
    const r = exampleIosSession();
    const out = await client.session(r, app, { install: true });
    expect(server.requests[0]?.method).toBe('GET');
    expect(server.requests[0]?.url).toBe(`/api/v1/launch?${buildSingularSessionQuery(r, app, { install: true })}`);
    expect(out.answer).toEqual({ deferredDeeplink: 'myapp://promo', extra: { conversion_value: '3' } });
    expect(out.status).toBe(200);
    expect(out.url).toMatch(/\/api\/v1\/launch\?a=\[redacted\]&p=iOS&/);
    expect(out.url).not.toContain(KEY);
    expect(out.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('GETs /api/v1/evt for events; paths and method are configurable (POST form body, S4)', async () => {
    await client.event(exampleEvent(exampleAndroidSession()), app);
    expect(server.requests[0]?.url).toMatch(/^\/api\/v1\/evt\?a=acme_SECRETKEY_sh868sdjv&p=Android&/);
    const post = createSingularClient({ baseUrl: server.url, method: 'POST', eventPath: '/api/v2/evt' });
    await post.event(exampleEvent(exampleAndroidSession()), app);
    const req = server.requests[1];
    expect([req?.method, req?.url, req?.headers['content-type']]).toEqual([
      'POST',
      '/api/v2/evt',
      'application/x-www-form-urlencoded',
    ]);
    expect(new URLSearchParams(req?.body).get('n')).toBe('sng_complete_registration');
    await post.close();
  });

  it('a permanent reason is PARTNER_REJECTED with the reason and the answer, not retryable', async () => {
    server.handle((_q, res) => json(res, 200, { status: 'error', reason: 'platform: iOS should have an idfv param' }));
    const e = await failure(client.session(exampleIosSession(), app, { install: true }));
    expect(e).toMatchObject({
      code: 'PARTNER_REJECTED',
      retryable: false,
      inDoubt: false,
      reason: 'platform: iOS should have an idfv param',
      httpStatus: 200,
    });
    expect(e.partnerAnswer).toContain('should have an idfv param');
  });

  it('another error reason is PARTNER_ERROR, retryable', async () => {
    server.handle((_q, res) => json(res, 200, { status: 'error', reason: 'temporary failure' }));
    const e = await failure(client.event(exampleEvent(exampleIosSession()), app));
    expect(e).toMatchObject({ code: 'PARTNER_ERROR', retryable: true, inDoubt: false, reason: 'temporary failure' });
  });

  it('5xx and 429 are PARTNER_UNAVAILABLE, retryable, with Retry-After', async () => {
    server.handle((_q, res) => json(res, 503, { status: 'error' }, { 'retry-after': '7' }));
    const e = await failure(client.session(exampleIosSession(), app, { install: false }));
    expect(e).toMatchObject({
      code: 'PARTNER_UNAVAILABLE',
      retryable: true,
      inDoubt: false,
      httpStatus: 503,
      retryAfterMs: 7000,
    });
    server.handle((_q, res) => json(res, 429, {}));
    expect(await failure(client.session(exampleIosSession(), app, { install: false }))).toMatchObject({
      code: 'PARTNER_UNAVAILABLE',
      httpStatus: 429,
    });
  });

  it('a 200 that is not JSON is PARTNER_BAD_ANSWER, retryable and in doubt', async () => {
    server.handle((_q, res) => res.end('<html>gateway</html>'));
    expect(await failure(client.session(exampleIosSession(), app, { install: true }))).toMatchObject({
      code: 'PARTNER_BAD_ANSWER',
      retryable: true,
      inDoubt: true,
    });
  });

  it('a stalled partner times out after the call was sent: PARTNER_TIMEOUT, in doubt', async () => {
    server.handle(() => {});
    const e = await failure(client.session(exampleIosSession(), app, { install: true }, { timeoutMs: 100 }));
    expect(e).toMatchObject({ code: 'PARTNER_TIMEOUT', retryable: true, inDoubt: true });
  });

  it('the SDK key never appears in errors, partner answers or log lines, even when Singular echoes it', async () => {
    const echo = (q: { url: string }, res: Parameters<Parameters<TestServer['handle']>[0]>[1]) =>
      json(res, 200, { status: 'error', reason: `missing argument: ip (got ${q.url})` });
    server.handle(echo);
    const rejected = await failure(client.session(exampleIosSession(), app, { install: true }));
    server.handle((q, res) => json(res, 200, { status: 'error', reason: `busy ${q.url}` }));
    const retryable = await failure(client.session(exampleIosSession(), app, { install: true }));
    server.handle((_q, _res, raw) => raw.socket.destroy());
    const lost = await failure(client.session(exampleIosSession(), app, { install: true }));
    server.handle((q, res) => json(res, 500, { echo: q.url }));
    const unavailable = await failure(client.session(exampleIosSession(), app, { install: true }));
    for (const e of [rejected, retryable, lost, unavailable]) {
      const text = `${e.message} ${e.reason} ${e.partnerAnswer} ${JSON.stringify(e)} ${(e.cause as Error | undefined)?.message}`;
      expect(text).not.toContain(KEY);
    }
    expect(rejected.partnerAnswer).toContain('a=[redacted]');
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain(KEY);
    expect(JSON.stringify(lines)).toContain('a=[redacted]');
  });
});
