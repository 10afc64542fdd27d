import { exampleUuid } from '@s2s/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../test/harness.js';

const iosQuery = (n: number) =>
  new URLSearchParams({
    p: 'iOS',
    i: 'com.example.app',
    ip: `203.0.113.${n}`,
    ve: '17.2',
    ma: 'Apple',
    mo: 'iPhone15,2',
    lc: 'en_US',
    bd: '21C62',
    app_v: '1.2.3',
    idfv: exampleUuid(n, 1, true),
    att_authorization_status: '2',
    install: 'true',
    install_time: '1763800000',
    update_time: '1763800000',
    install_receipt: 'MIIT8QYJKoZIhvcNAQcCoIIT4jCCE94CAQExCzAJ',
    ddl_enabled: 'true',
  });

describe('Singular drop-in routes', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => gw?.close());

  it('accepts a SESSION with the key in `a`, answering like Singular plus a request id', async () => {
    const q = iosQuery(1);
    q.set('a', gw.apiKey);
    const res = await gw.app.inject({ method: 'GET', url: `/api/v1/launch?${q}` });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ status: 'ok', s2s: { status: 'accepted', complete: false } });
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const status = await gw.app.inject({
      method: 'GET',
      url: `/v1/requests/${body.requestId}`,
      headers: { 'x-api-key': gw.apiKey },
    });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ requestId: body.requestId, kind: 'session', replies: {} });
    expect(['pending', 'accepted']).toContain(status.json().status);
  });

  it('accepts an EVENT with the key in a header', async () => {
    const q = new URLSearchParams({
      p: 'iOS',
      i: 'com.example.app',
      ip: '203.0.113.9',
      ve: '17.2',
      idfv: exampleUuid(9, 1, true),
      att_authorization_status: '0',
      n: 'sng_level_achieved',
      e: '{"level":"7"}',
    });
    const res = await gw.app.inject({
      method: 'GET',
      url: `/api/v1/evt?${q}`,
      headers: { authorization: `Bearer ${gw.apiKey}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('ok');
  });

  it("answers 400 problem+json naming Singular's parameters, and 401 without a key", async () => {
    const q = iosQuery(2);
    q.delete('idfv');
    q.set('lc', 'en-US');
    q.set('foo', 'bar');
    q.set('a', gw.apiKey);
    const res = await gw.app.inject({ method: 'GET', url: `/api/v1/launch?${q}` });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const fields = res.json().errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['idfv', 'lc', 'foo']));
    expect(fields).not.toContain('ids.idfv');

    const anon = await gw.app.inject({ method: 'GET', url: `/api/v1/launch?${iosQuery(3)}` });
    expect(anon.statusCode).toBe(401);
  });
});
