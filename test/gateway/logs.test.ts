import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exampleIosSession,
  exampleUuid,
  type InjectOptions,
  SECRETS,
  startTestGateway,
  type TestGateway,
} from '../../services/gateway/test/harness.js';

const ADMIN_KEY = 'admin-secret-5c7e9a1b3d';
const WRONG_KEY = 's2s_wrong-secret-key-7f3a9c';

describe('gateway logs (the real lines pino wrote)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { ADMIN_KEY, SANDBOX_URL: 'http://127.0.0.1:9', WORKER_OPS_URL: 'off' } });
  });
  afterAll(async () => gw?.close());

  it('writes one line per request with request id, app, device key, outcome and latency, and never a secret', async () => {
    const inject = (o: InjectOptions) => gw.app.inject(o);
    const accepted = await inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { authorization: `Bearer ${gw.apiKey}` },
      payload: exampleIosSession(600, gw.appId),
    });
    expect(accepted.statusCode).toBe(202);
    const q = new URLSearchParams({
      a: gw.apiKey,
      p: 'iOS',
      i: 'com.example.app',
      ip: '203.0.113.60',
      ve: '17.2',
      idfv: exampleUuid(601, 1, true),
    });
    q.set('att_authorization_status', '1');
    q.set('n', 'sng_login');
    const dropIn = await inject({ method: 'GET', url: `/api/v1/evt?${q}` });
    expect(dropIn.statusCode).toBe(200);
    q.set('amt', 'lots');
    expect((await inject({ method: 'GET', url: `/api/v1/evt?${q}` })).statusCode).toBe(400);
    expect(
      (await inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': WRONG_KEY }, payload: {} })).statusCode,
    ).toBe(401);
    expect(
      (await inject({ method: 'POST', url: '/v1/events', headers: { 'x-api-key': gw.apiKey }, payload: { appId: gw.appId } }))
        .statusCode,
    ).toBe(400);
    expect((await inject({ method: 'GET', url: '/ops/sandbox/requests', headers: { 'x-admin-key': 'nope' } })).statusCode).toBe(
      401,
    );
    expect(
      (await inject({ method: 'GET', url: '/ops/sandbox/requests', headers: { 'x-admin-key': ADMIN_KEY } })).statusCode,
    ).toBe(502);

    const text = gw.logs.join('');
    for (const secret of [gw.apiKey, SECRETS.singularSdkKey, SECRETS.oathHmacKey, ADMIN_KEY, WRONG_KEY])
      expect(text.includes(secret), `a log line holds ${secret.slice(0, 8)}…`).toBe(false);

    const lines = gw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
    expect(lines).toHaveLength(7);
    const first = lines[0]!;
    expect(first).toMatchObject({
      method: 'POST',
      route: '/v1/sessions',
      status: 202,
      app: gw.appId,
      requestId: accepted.json().requestId,
      outcome: 'accepted',
    });
    expect(first.reqId).toEqual(expect.any(String));
    expect(first.deviceKey).toMatch(/^[0-9a-f]{32}$/);
    expect(first.ms).toEqual(expect.any(Number));
    expect(lines[1]).toMatchObject({
      route: '/api/v1/evt',
      status: 200,
      requestId: dropIn.json().requestId,
      outcome: 'accepted',
    });
    expect(String(lines[1]!.url)).toContain('a=[redacted]');
    expect(lines[2]).toMatchObject({ status: 400, outcome: 'VALIDATION_FAILED', app: gw.appId });
    expect(lines[3]).toMatchObject({ status: 401, outcome: 'API_KEY_INVALID' });
    expect(lines[5]).toMatchObject({ status: 401, outcome: 'ADMIN_KEY_INVALID' });
    expect(lines[6]).toMatchObject({ status: 502, outcome: 'UPSTREAM_UNAVAILABLE' });
  });
});
