import { exampleAndroidSession, exampleIosSession, type SessionRecord } from '@s2s/contracts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { failure } from '../testing/failure.js';
import { claimsFor, type FakeOnside, type SigningKey, sign, signingKey, startFakeOnside } from '../testing/onside.js';
import { buildOnsideBody } from './build.js';
import { createOnsideClient, type OnsideClient } from './client.js';

const T0 = 1_763_800_000_000;
const NOW_S = T0 / 1000;

const record = (extra: Partial<SessionRecord> = {}): SessionRecord => ({ ...exampleIosSession(4), ...extra });

describe('Onside request body (§3.2)', () => {
  it('maps an iOS session, language as BCP 47 from the locale, availableCapacity when known', () => {
    expect(buildOnsideBody(record())).toEqual({
      token: 'onside-token-4',
      bundle_id: 'com.example.app',
      device_model: 'iPhone15,2',
      os_version: '17.2',
      language: 'en-US',
      availableCapacity: 21_489_729_783,
    });
    expect(buildOnsideBody(record({ language: 'pt-BR', onside: { token: 't' } }))).toEqual({
      token: 't',
      bundle_id: 'com.example.app',
      device_model: 'iPhone15,2',
      os_version: '17.2',
      language: 'pt-BR',
    });
  });

  it('is iOS only (S-N10)', () => {
    expect(() => buildOnsideBody({ ...exampleAndroidSession(), onside: { token: 't' } } as SessionRecord)).toThrow(
      expect.objectContaining({ code: 'PARTNER_INPUT_INVALID' }),
    );
  });
});

describe('Onside client against a local Onside', () => {
  let key: SigningKey;
  let onside: FakeOnside;
  let client: OnsideClient;
  /** Signs what a real Onside would answer to this request body. */
  const answerTo = async (body: string, extra = {}) => {
    const b = JSON.parse(body) as { bundle_id: string; token: string };
    return sign(key, claimsFor(b.bundle_id, b.token, NOW_S, extra));
  };

  beforeAll(async () => {
    key = await signingKey();
    onside = await startFakeOnside([key.jwk]);
  });
  afterAll(async () => {
    await client.close();
    await onside.close();
  });
  beforeEach(async () => {
    await client?.close();
    onside.server.requests.length = 0;
    onside.onInstall = async (req) => ({ status: 200, body: await answerTo(req.body) });
    client = createOnsideClient({ baseUrl: onside.url, now: () => T0, timeoutMs: 2_000 });
  });

  it('way (a): POSTs the JSON body with the device IP in X-Forwarded-For and returns the verified answer', async () => {
    onside.onInstall = async (req) => ({
      status: 200,
      body: await answerTo(req.body, { attribution_data: { source: 'facebook_ads', tags: ['social', 'video_ad'] } }),
    });
    const out = await client.install(record());
    const call = onside.installCalls()[0];
    expect(call?.headers['content-type']).toBe('application/json');
    expect(call?.headers['x-forwarded-for']).toBe('203.0.0.4');
    expect(call?.headers.authorization).toBeUndefined();
    expect(JSON.parse(call?.body ?? '')).toEqual(buildOnsideBody(record()));
    expect(call?.body).toContain('"availableCapacity":21489729783');
    expect(out).toMatchObject({
      way: 'relayed',
      status: 200,
      answer: {
        installationToken: 'a1b2c3d4-onside-install-token-5e6f',
        jti: '4d3f2c1a-6b7c-4d3f-8c1a-6b7c4d3f8c1a',
        attributionData: { source: 'facebook_ads', tags: ['social', 'video_ad'] },
      },
    });
  });

  it.each(['application/jose', 'application/jwt', 'text/plain; charset=utf-8'])(
    'accepts a JWS labelled %s (S-N9)',
    async (type) => {
      onside.onInstall = async (req) => ({ status: 200, body: `${await answerTo(req.body)}\n`, contentType: type });
      expect((await client.install(record())).answer.installationToken).toBe('a1b2c3d4-onside-install-token-5e6f');
    },
  );

  it('refuses an answer that is not labelled as a JWS', async () => {
    onside.onInstall = async (req) => ({ status: 200, body: await answerTo(req.body), contentType: 'application/json' });
    expect(await failure(client.install(record()))).toMatchObject({ code: 'ONSIDE_VERIFICATION_FAILED', check: 'content_type' });
  });

  it('way (a) never returns an answer that fails verification (bound to another request token)', async () => {
    onside.onInstall = async (req) => ({ status: 200, body: await answerTo(req.body, { request_token: 'other' }) });
    expect(await failure(client.install(record()))).toMatchObject({
      code: 'ONSIDE_VERIFICATION_FAILED',
      retryable: false,
      check: 'request_token',
    });
  });

  it('way (b): verifies the JWS the app brought, with the same checks and no call to Onside', async () => {
    const jws = await sign(key, claimsFor('com.example.app', 'onside-token-4', NOW_S));
    const out = await client.install(record({ onside: { token: 'onside-token-4', jws } }));
    expect(out).toMatchObject({
      way: 'app',
      status: undefined,
      url: undefined,
      answer: { installationToken: expect.any(String) },
    });
    expect(onside.installCalls()).toHaveLength(0);
    const forOther = record({ onside: { token: 'another-token', jws } });
    expect(await failure(client.install(forOther))).toMatchObject({ code: 'ONSIDE_VERIFICATION_FAILED', check: 'request_token' });
    expect(await failure(client.verifyJws(jws, { bundleId: 'com.other', token: 'onside-token-4' }))).toMatchObject({
      check: 'aud',
    });
  });

  it('uses a configured forwarding header, install path and bearer token (S-N1, S-N2), and never leaks the token', async () => {
    const token = 'onside_SECRET_bearer';
    const custom = createOnsideClient({
      baseUrl: onside.url,
      now: () => T0,
      forwardedForHeader: 'X-Real-IP',
      bearerToken: token,
    });
    await custom.install(record());
    const call = onside.installCalls()[0];
    expect(call?.headers['x-real-ip']).toBe('203.0.0.4');
    expect(call?.headers['x-forwarded-for']).toBeUndefined();
    expect(call?.headers.authorization).toBe(`Bearer ${token}`);
    onside.onInstall = async (req) => ({ status: 400, body: JSON.stringify({ title: 'bad', echo: req.headers.authorization }) });
    const e = await failure(custom.install(record()));
    expect(e.code).toBe('PARTNER_REJECTED');
    expect(`${e.message} ${e.partnerAnswer} ${JSON.stringify(e)}`).not.toContain(token);
    await custom.close();
  });

  it.each([400, 409, 415, 422])('HTTP %i is PARTNER_REJECTED, not retryable (S-N3)', async (status) => {
    onside.onInstall = async () => ({ status, body: '{"title":"bad request"}', contentType: 'application/problem+json' });
    expect(await failure(client.install(record()))).toMatchObject({
      code: 'PARTNER_REJECTED',
      retryable: false,
      httpStatus: status,
      reason: `HTTP ${status}: bad request`,
      partnerAnswer: '{"title":"bad request"}',
    });
  });

  it.each([429, 500, 503])('HTTP %i is PARTNER_UNAVAILABLE, retryable (S-N3)', async (status) => {
    onside.onInstall = async () => ({ status, body: '' });
    expect(await failure(client.install(record()))).toMatchObject({
      code: 'PARTNER_UNAVAILABLE',
      retryable: true,
      httpStatus: status,
    });
  });

  it('a timeout after the call was sent is PARTNER_TIMEOUT, in doubt', async () => {
    onside.onInstall = () => new Promise(() => {});
    expect(await failure(client.install(record(), { timeoutMs: 100 }))).toMatchObject({
      code: 'PARTNER_TIMEOUT',
      retryable: true,
      inDoubt: true,
    });
  });

  it('never calls Onside for Android', async () => {
    const android = { ...exampleAndroidSession(), onside: { token: 't' } } as SessionRecord;
    expect(await failure(client.install(android))).toMatchObject({ code: 'PARTNER_INPUT_INVALID', retryable: false });
    expect(onside.server.requests).toHaveLength(0);
  });
});
