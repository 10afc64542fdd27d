import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, type JWTPayload, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../app.js';
import { loadSandboxConfig } from '../config.js';
import { buildTestApp, lastEntry, postJson, requestLog, T0 } from '../testing.js';

const URL = '/onside/merchant-api/v1/attribution/install';
/** The spec's sample request body (§3.2). */
const BODY = {
  token: 'a1b2c3d4-client-random-token-5e6f',
  bundle_id: 'com.example.my-awesome-app',
  device_model: 'iPhone15,2',
  os_version: '17.2',
  language: 'en-US',
  availableCapacity: 21489729783,
};
const DEVICE_IP = '198.51.100.20';
const ATTRIBUTION = {
  marketing_campaign: 'summer_sale_2024',
  source: 'facebook_ads',
  tags: ['social', 'video_ad'],
  click_id: 'clk_123456789',
};

describe('Onside install attribution emulator', () => {
  let app: FastifyInstance;
  let now: number;
  beforeEach(async () => {
    now = T0;
    app = await buildTestApp({}, { clock: () => now });
  });
  afterEach(() => app.close());

  const install = (body: object = BODY, headers: Record<string, string> = { 'x-forwarded-for': `${DEVICE_IP}, 10.0.0.1` }) =>
    app.inject({
      method: 'POST',
      url: URL,
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });

  /** The latest install request in the log (JWKS fetches are logged too). */
  const lastInstall = async () => (await requestLog(app, '?partner=onside')).filter((e) => e.path === URL).at(-1);

  /** The client's checks of §3.5, with jose against the sandbox's own JWKS. */
  async function verify(jws: string, audience = BODY.bundle_id): Promise<JWTPayload> {
    const jwks = (await app.inject('/onside/.well-known/jwks.json')).json();
    const { payload } = await jwtVerify(jws, createLocalJWKSet(jwks), {
      issuer: 'https://onside.io',
      audience,
      algorithms: ['RS256'],
      currentDate: new Date(now),
      clockTolerance: 60,
    });
    return payload;
  }

  it("answers the spec's sample request with an RS256 compact JWS carrying the documented claims", async () => {
    const r = await install();
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^application\/jose/);
    expect(decodeProtectedHeader(r.body)).toEqual({ alg: 'RS256', kid: 'public_key_1' });
    const claims = await verify(r.body);
    expect(claims).toEqual({
      iss: 'https://onside.io',
      aud: BODY.bundle_id,
      iat: T0 / 1000,
      exp: T0 / 1000 + 3600,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      request_token: BODY.token,
      installation_token: expect.any(String),
    });
    expect(await lastInstall()).toMatchObject({
      outcome: 'organic',
      deviceKey: BODY.token,
      details: { matchedBy: 'none', clientIp: DEVICE_IP },
    });
  });

  it('publishes a 2048-bit RSA JWKS with the configured kid', async () => {
    const { keys } = (await app.inject('/onside/.well-known/jwks.json')).json();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'RSA', kid: 'public_key_1', alg: 'RS256', e: 'AQAB' });
    expect(Buffer.from(keys[0].n, 'base64url').length * 8).toBe(2048);
    expect(keys[0]).not.toHaveProperty('d');
  });

  it('attributes through a store session on the first X-Forwarded-For hop, and repeats itself for a known token (S-N6)', async () => {
    await postJson(app, '/_sandbox/scenarios', {
      onside: { storeSessions: [{ ip: DEVICE_IP, user: 'u1', attribution_data: ATTRIBUTION }] },
    });
    const first = await verify((await install()).body);
    expect(first.attribution_data).toEqual(ATTRIBUTION);
    expect((await lastInstall())?.outcome).toBe('attributed');

    now += 30_000;
    await app.inject({ method: 'DELETE', url: '/_sandbox/scenarios' });
    const again = await verify((await install(BODY, { 'x-forwarded-for': '203.0.113.99' })).body);
    expect(again).toMatchObject({
      installation_token: first.installation_token,
      attribution_data: ATTRIBUTION,
      iat: first.iat! + 30,
    });
    expect(again.jti).not.toBe(first.jti);
    expect(await lastInstall()).toMatchObject({ duplicate: true, details: { matchedBy: 'token' } });

    const other = await verify((await install({ ...BODY, token: 'another' })).body);
    expect(other.installation_token).not.toBe(first.installation_token);
  });

  it('takes the client IP from the configured header, else from the socket', async () => {
    await postJson(app, '/_sandbox/scenarios', {
      onside: { storeSessions: [{ ip: '127.0.0.1', user: 'local', attribution_data: { source: 's' } }] },
    });
    const socket = await verify((await install(BODY, {})).body);
    expect(socket.attribution_data).toEqual({ source: 's' });
    const custom = await buildTestApp({ SANDBOX_ONSIDE_IP_HEADER: 'X-Real-IP' });
    try {
      await postJson(custom, '/_sandbox/scenarios', {
        onside: { storeSessions: [{ ip: DEVICE_IP, user: 'u', attribution_data: { source: 'h' } }] },
      });
      const headers = { 'content-type': 'application/json', 'x-real-ip': DEVICE_IP, 'x-forwarded-for': '203.0.113.1' };
      await custom.inject({ method: 'POST', url: URL, payload: JSON.stringify(BODY), headers });
      expect(await lastEntry(custom)).toMatchObject({ outcome: 'attributed', details: { clientIp: DEVICE_IP } });
    } finally {
      await custom.close();
    }
  });

  it('answers 415 problem JSON for a body that is not application/json', async () => {
    for (const headers of [{ 'content-type': 'text/plain' }, { 'content-type': 'application/x-www-form-urlencoded' }, {}]) {
      const r = await app.inject({ method: 'POST', url: URL, payload: JSON.stringify(BODY), headers });
      expect(r.statusCode).toBe(415);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.json()).toMatchObject({ status: 415, title: 'Unsupported Media Type' });
    }
  });

  it('answers 400 problem JSON naming every bad field', async () => {
    const notJson = await app.inject({
      method: 'POST',
      url: URL,
      payload: '{"token":',
      headers: { 'content-type': 'application/json' },
    });
    expect([notJson.statusCode, notJson.json().detail]).toEqual([400, 'the body is not valid JSON']);
    const { token: _t, language: _l, ...partial } = BODY;
    const missing = await install({ ...partial, device_model: 7 });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().errors.map((e: { field: string }) => e.field)).toEqual(['token', 'device_model', 'language']);
    for (const availableCapacity of [1.5, '21489729783', -1]) {
      const r = await install({ ...BODY, availableCapacity });
      expect(r.json().errors, String(availableCapacity)).toEqual([expect.objectContaining({ field: 'availableCapacity' })]);
    }
    expect((await install({ ...BODY, availableCapacity: undefined })).statusCode).toBe(200);
  });

  it('requires a bearer token only when one is configured (S-N1)', async () => {
    const guarded = await buildTestApp({ SANDBOX_ONSIDE_BEARER: 'sekret' });
    try {
      const post = (headers: Record<string, string>) =>
        guarded.inject({
          method: 'POST',
          url: URL,
          payload: JSON.stringify(BODY),
          headers: { 'content-type': 'application/json', ...headers },
        });
      expect((await post({})).statusCode).toBe(401);
      expect((await post({ authorization: 'Bearer wrong' })).statusCode).toBe(401);
      expect((await post({ authorization: 'Bearer sekret' })).statusCode).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('signs with a key generated at start under SANDBOX_ONSIDE_KID, with the configured issuer and lifetime', async () => {
    const config = loadSandboxConfig({
      LOG_LEVEL: 'silent',
      SANDBOX_ONSIDE_KID: 'k9',
      SANDBOX_ONSIDE_ISS: 'https://onside.test',
      SANDBOX_ONSIDE_TOKEN_TTL: '60',
    });
    const own = await buildApp({ config, clock: () => T0 });
    try {
      const jws = (await postJson(own, URL, BODY)).body;
      const jwks = (await own.inject('/onside/.well-known/jwks.json')).json();
      expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual(['k9']);
      const { payload, protectedHeader } = await jwtVerify(jws, createLocalJWKSet(jwks), {
        issuer: 'https://onside.test',
        audience: BODY.bundle_id,
        currentDate: new Date(T0),
      });
      expect(protectedHeader.kid).toBe('k9');
      expect(payload.exp! - payload.iat!).toBe(60);
    } finally {
      await own.close();
    }
  });
});
