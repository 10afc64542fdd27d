import { exampleAndroidSession } from '@s2s/contracts';
import { createAppsRepo } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../../../test/support/index.js';
import { startTestGateway, type TestGateway } from '../../../test/harness.js';
import { ERRORS } from '../../errors.js';

describe('health, metrics, docs and rate limits', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { RATE_LIMIT_PER_SECOND: '3', AUTH_CACHE_TTL_MS: '1000' } });
  });
  afterAll(async () => gw?.close());

  it('is healthy and ready with Kafka, Postgres and the reply feed up', async () => {
    expect((await gw.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await gw.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', kafka: 'ok', replies: 'ok' } });
  });

  it('counts requests, produced records and intake latency in Prometheus format', async () => {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { 'x-api-key': gw.apiKey },
      payload: exampleAndroidSession(1, gw.appId),
    });
    expect(res.statusCode).toBe(202);
    const text = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toContain('gateway_http_requests_total{method="POST",route="/v1/sessions",status="202"} 1');
    expect(text).toContain('gateway_records_produced_total{kind="session"} 1');
    expect(text).toContain('gateway_intake_records_total{result="accepted"} 1');
    expect(text).toMatch(/gateway_intake_duration_seconds_count\{route="\/v1\/sessions",status="202"\} 1/);
    expect(text).toMatch(/gateway_produce_duration_seconds_count 1/);
    expect(text).toMatch(/gateway_intake_claim_duration_seconds_count 1/);
  });

  it('serves the OpenAPI document and the error catalogue', async () => {
    const doc = (await gw.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/sessions', '/v1/events', '/v1/batch', '/v1/requests/{id}', '/api/v1/launch', '/api/v1/evt']),
    );
    expect(doc.paths['/v1/sessions'].post.requestBody.content['application/json'].schema.properties.installReceipt).toBeDefined();
    expect((await gw.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
    const errors = (await gw.app.inject({ method: 'GET', url: '/docs/errors' })).json();
    expect(errors.map((e: { code: string }) => e.code)).toEqual(Object.keys(ERRORS));
  });

  it('answers 429 with Retry-After past the per-app limit, counting each app on its own', async () => {
    const other = await gw.addApp({ id: `${gw.appId}-rl` });
    const hit = (key: string) => gw.app.inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': key }, payload: {} });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await hit(gw.apiKey));
    const limited = answers.filter((r) => r.statusCode === 429);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(limited[0]!.headers['retry-after']).toBe('1');
    expect(limited[0]!.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(limited[0]!.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429, retryable: true });
    expect((await hit(other.apiKey)).statusCode).toBe(400);
  });

  it('stops a disabled app within AUTH_CACHE_TTL_MS (1 s here)', async () => {
    const { app, apiKey } = await gw.addApp({ id: `${gw.appId}-off` });
    const hit = () => gw.app.inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': apiKey }, payload: {} });
    expect((await hit()).statusCode).toBe(400); // authenticated (and cached), then refused as invalid
    await createAppsRepo(gw.schema.pool).setStatus(app.id, 'disabled');
    const disabledAt = Date.now();
    expect((await hit()).statusCode).toBe(400); // still cached as active
    await waitFor(async () => (await hit()).statusCode === 401, { timeoutMs: 3000, intervalMs: 20, what: '401 after the TTL' });
    expect(Date.now() - disabledAt).toBeLessThan(2000);
  });
});
