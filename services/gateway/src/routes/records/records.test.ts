import { exampleAndroidSession, exampleEvent, exampleIosSession } from '@s2s/contracts';
import { createAppsRepo } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../test/harness.js';

describe('canonical intake routes (app.inject, real Kafka and Postgres)', () => {
  let gw: TestGateway;
  const auth = () => ({ authorization: `Bearer ${gw.apiKey}` });
  beforeAll(async () => {
    gw = await startTestGateway({ env: { BODY_LIMIT_BYTES: '4096', AUTH_CACHE_TTL_MS: '0' } });
  });
  afterAll(async () => gw?.close());

  it('accepts a valid session with 202, a request id and a Location', async () => {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: auth(),
      payload: exampleIosSession(1, gw.appId),
    });
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toMatchObject({ status: 'accepted', complete: false, replies: {} });
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.location).toBe(`/v1/requests/${body.requestId}`);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
  });

  it('lists every failing field in an RFC 9457 problem', async () => {
    const s = exampleIosSession(2, gw.appId);
    const bad = { ...s, ids: {}, attStatus: undefined, locale: 'en-US', installTimeS: 12, color: 'red' };
    const res = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: auth(), payload: bad });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const p = res.json();
    expect(p).toMatchObject({
      type: '/docs/errors#VALIDATION_FAILED',
      title: 'The record is not valid',
      status: 400,
      code: 'VALIDATION_FAILED',
      retryable: false,
      instance: '/v1/sessions',
    });
    expect(p.detail).toEqual(expect.any(String));
    const fields = p.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['ids.idfv', 'attStatus', 'locale', 'installTimeS', '(body)']));
    expect(p.errors.find((e: { field: string }) => e.field === '(body)').message).toContain('color');
  });

  it('answers 415 to another content type, 413 over the body limit, 400 to malformed JSON', async () => {
    const text = await gw.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(), 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');

    const big = { ...exampleIosSession(3, gw.appId), installReceipt: 'A'.repeat(5000) };
    const large = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: auth(), payload: big });
    expect(large.statusCode).toBe(413);
    expect(large.json().code).toBe('BODY_TOO_LARGE');

    for (const payload of ['{"appId":', '', '[1,', '{"__proto__":{"x":1}}']) {
      const res = await gw.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { ...auth(), 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json().code).toBe('MALFORMED_JSON');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    }

    // A valid record with bytes that are not UTF-8 in a text field: refused, never stored as U+FFFD.
    const json = JSON.stringify(exampleEvent(exampleAndroidSession(5, gw.appId), 'level_up'));
    const [head, tail] = json.split('level_up') as [string, string];
    const latin1 = Buffer.concat([Buffer.from(head), Buffer.from([0x6c, 0xe9, 0x76, 0x65, 0x6c]), Buffer.from(tail)]);
    const notUtf8 = await gw.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { ...auth(), 'content-type': 'application/json' },
      payload: latin1,
    });
    expect(notUtf8.statusCode).toBe(400);
    expect(notUtf8.json()).toMatchObject({ code: 'MALFORMED_JSON', detail: 'the body is not valid UTF-8' });
  });

  it('refuses a missing, unknown or revoked key and a disabled app with 401, another app with 403', async () => {
    const payload = exampleEvent(exampleAndroidSession(4, gw.appId));
    const post = (headers: Record<string, string>, body: object = payload) =>
      gw.app.inject({ method: 'POST', url: '/v1/events', headers, payload: body });
    expect((await post({})).json().code).toBe('API_KEY_MISSING');
    expect((await post({ 'x-api-key': 's2s_nope' })).statusCode).toBe(401);
    expect((await post({ 'x-api-key': 's2s_nope' })).json().code).toBe('API_KEY_INVALID');
    expect((await post({ 'x-api-key': gw.apiKey })).statusCode).toBe(202);

    const other = await gw.addApp({ id: `${gw.appId}-other` });
    const mismatch = await post({ authorization: `Bearer ${other.apiKey}` });
    expect(mismatch.statusCode).toBe(403);
    expect(mismatch.json().code).toBe('APP_MISMATCH');

    const apps = createAppsRepo(gw.schema.pool);
    await apps.setStatus(other.app.id, 'disabled');
    const disabled = await post({ authorization: `Bearer ${other.apiKey}` }, { ...payload, appId: other.app.id });
    expect(disabled.statusCode).toBe(401);
    expect(disabled.json().code).toBe('APP_DISABLED');

    const rotated = await apps.addKey(gw.appId);
    expect((await post({ authorization: `Bearer ${rotated}` })).statusCode).toBe(202);
    expect(await apps.revokeKey(gw.appId, rotated.slice(0, 10))).toBe(1);
    expect((await post({ authorization: `Bearer ${rotated}` })).json().code).toBe('API_KEY_INVALID');
  });

  it('answers 404 problems to unknown routes', async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/v2/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe('ROUTE_NOT_FOUND');
  });
});
