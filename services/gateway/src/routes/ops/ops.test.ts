import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../test/harness.js';

describe('/ops proxies behind the admin key', () => {
  let upstream: FastifyInstance;
  let gw: TestGateway;
  let plain: TestGateway;
  beforeAll(async () => {
    upstream = Fastify();
    upstream.get('/_sandbox/requests', async (request) => ({ path: request.url, headers: request.headers }));
    upstream.get('/metrics', async () => 'worker_lanes 3\n');
    const address = await upstream.listen({ port: 0, host: '127.0.0.1' });
    gw = await startTestGateway({ env: { ADMIN_KEY: 'ops-admin-key', SANDBOX_URL: address, WORKER_OPS_URL: address } });
    plain = await startTestGateway({ topics: gw.topics, schema: gw.schema });
  });
  afterAll(async () => {
    await plain?.close();
    await gw?.close();
    await upstream?.close();
  });

  it('answers 401 without the admin key', async () => {
    for (const headers of [{}, { 'x-admin-key': 'wrong' }, { authorization: `Bearer ${gw.apiKey}` }]) {
      const res = await gw.app.inject({ method: 'GET', url: '/ops/sandbox/requests', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('ADMIN_KEY_INVALID');
    }
  });

  it('proxies /ops/sandbox/* to /_sandbox/* and /ops/workers/* to the worker, without forwarding credentials', async () => {
    const res = await gw.app.inject({
      method: 'GET',
      url: '/ops/sandbox/requests?limit=5',
      headers: { 'x-admin-key': 'ops-admin-key', authorization: 'Bearer s2s_x' },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.path).toBe('/_sandbox/requests?limit=5');
    expect(body.headers['x-admin-key']).toBeUndefined();
    expect(body.headers.authorization).toBeUndefined();
    const metrics = await gw.app.inject({
      method: 'GET',
      url: '/ops/workers/metrics',
      headers: { 'x-admin-key': 'ops-admin-key' },
    });
    expect(metrics.body).toBe('worker_lanes 3\n');
  });

  it('does not exist without ADMIN_KEY', async () => {
    const res = await plain.app.inject({
      method: 'GET',
      url: '/ops/sandbox/requests',
      headers: { 'x-admin-key': 'ops-admin-key' },
    });
    expect(res.statusCode).toBe(404);
  });
});
