import { base64url, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OnsideCheck } from '../errors.js';
import { createHttpClient, type HttpClient } from '../http.js';
import { failure } from '../testing/failure.js';
import { claimsFor, type FakeOnside, type SigningKey, sign, signingKey, startFakeOnside } from '../testing/onside.js';
import { closedPortUrl } from '../testing/server.js';
import { createJwksCache, type JwksCache } from './jwks.js';
import { verifyOnsideJwsWith } from './verify.js';

const T0 = 1_763_800_000_000;
const NOW_S = T0 / 1000;
const expected = { bundleId: 'com.example.my-awesome-app', token: 'a1b2c3d4-client-random-token-5e6f' };

describe('Onside JWS verification (§3.5) against a local JWKS', () => {
  let key: SigningKey;
  let rotated: SigningKey;
  let impostor: SigningKey;
  let onside: FakeOnside;
  let http: HttpClient;
  let now: number;
  let jwks: JwksCache;
  const verify = (jws: string, exp = expected) => verifyOnsideJwsWith(jws, exp, { getKey: jwks.getKey, now: () => now });
  const good = (extra: Record<string, unknown> = {}, k = key) =>
    sign(k, claimsFor(expected.bundleId, expected.token, NOW_S, extra));

  beforeAll(async () => {
    [key, rotated, impostor] = await Promise.all([signingKey(), signingKey('public_key_2'), signingKey('public_key_1')]);
    onside = await startFakeOnside([key.jwk]);
    http = createHttpClient({ timeoutMs: 2_000 });
  });
  afterAll(async () => {
    await http.close();
    await onside.close();
  });
  beforeEach(() => {
    now = T0;
    onside.keys = [key.jwk];
    onside.jwksStatus = 200;
    onside.server.requests.length = 0;
    jwks = createJwksCache({ url: `${onside.url}/.well-known/jwks.json`, http, now: () => now });
  });

  it('accepts a good answer without typ and maps it; attribution tags default to []', async () => {
    const jws = await good({
      attribution_data: { marketing_campaign: 'summer_sale_2024', source: 'facebook_ads', click_id: 'clk_1' },
    });
    expect(JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString())).toEqual({
      alg: 'RS256',
      kid: 'public_key_1',
    });
    expect(await verify(jws)).toEqual({
      installationToken: 'a1b2c3d4-onside-install-token-5e6f',
      jti: '4d3f2c1a-6b7c-4d3f-8c1a-6b7c4d3f8c1a',
      attributionData: { marketingCampaign: 'summer_sale_2024', source: 'facebook_ads', clickId: 'clk_1', tags: [] },
    });
    // Organic: no attribution_data at all.
    expect((await verify(await good())).attributionData).toBeUndefined();
  });

  it('tolerates 60 s of clock skew on exp and iat, not more (S-N5)', async () => {
    expect(await verify(await good({ exp: NOW_S - 30 }))).toBeDefined();
    expect(await verify(await good({ iat: NOW_S + 30 }))).toBeDefined();
  });

  const rejections: [string, OnsideCheck, () => Promise<string>][] = [
    ['a forged signature (another key under the same kid)', 'signature', () => good({}, impostor)],
    ['an expired token', 'exp', () => good({ iat: NOW_S - 7200, exp: NOW_S - 61 })],
    ['an iat in the future beyond the leeway', 'iat', () => good({ iat: NOW_S + 120 })],
    ['a wrong audience', 'aud', () => good({ aud: 'com.other.app' })],
    ['a wrong issuer', 'iss', () => good({ iss: 'https://evil.example' })],
    ['a mismatched request token', 'request_token', () => good({ request_token: 'someone-else' })],
    ['no installation token', 'installation_token', () => good({ installation_token: undefined })],
    ['no exp', 'exp', () => good({ exp: undefined })],
    ['alg none', 'alg', async () => new UnsecuredJWT(claimsFor(expected.bundleId, expected.token, NOW_S)).encode()],
    [
      'alg none dressed with a kid and a signature',
      'alg',
      async () => {
        const h = base64url.encode(JSON.stringify({ alg: 'none', kid: 'public_key_1' }));
        const p = base64url.encode(JSON.stringify(claimsFor(expected.bundleId, expected.token, NOW_S)));
        return `${h}.${p}.${base64url.encode('sig')}`;
      },
    ],
    [
      'HS256 (keyed with the public modulus, the classic confusion)',
      'alg',
      async () =>
        new SignJWT(claimsFor(expected.bundleId, expected.token, NOW_S))
          .setProtectedHeader({ alg: 'HS256', kid: 'public_key_1' })
          .sign(new TextEncoder().encode(String(key.jwk.n))),
    ],
    ['something that is not a JWS', 'format', async () => 'not-a-jws'],
  ];
  it.each(rejections)('rejects %s as ONSIDE_VERIFICATION_FAILED (%s)', async (_name, check, make) => {
    const e = await failure(verify(await make()));
    expect(e).toMatchObject({ code: 'ONSIDE_VERIFICATION_FAILED', retryable: false, inDoubt: false, check, reason: check });
  });

  it('caches the JWKS: many verifications, one fetch from <base>/.well-known/jwks.json; concurrent cold starts share it', async () => {
    const jws = await good();
    await Promise.all([verify(jws), verify(jws), verify(jws), verify(jws)]);
    await verify(jws);
    expect(onside.jwksFetches()).toBe(1);
    expect(onside.server.requests[0]?.url).toBe('/.well-known/jwks.json');
  });

  it('an unknown kid triggers exactly one refetch, and another unknown kid within a minute does not refetch', async () => {
    await verify(await good());
    expect(onside.jwksFetches()).toBe(1);

    now = T0 + 61_000;
    const unknown = await good({}, await signingKey('public_key_9'));
    expect(await failure(verify(unknown))).toMatchObject({ code: 'ONSIDE_VERIFICATION_FAILED', check: 'kid' });
    expect(onside.jwksFetches()).toBe(2);

    now = T0 + 62_000;
    const other = await good({}, await signingKey('public_key_8'));
    expect(await failure(verify(other))).toMatchObject({ code: 'ONSIDE_JWKS_UNAVAILABLE', retryable: true });
    expect(onside.jwksFetches()).toBe(2);
  });

  it('follows a key rotation: the new kid is found by the refetch once the cooldown allows it', async () => {
    await verify(await good());
    onside.keys = [key.jwk, rotated.jwk];
    const jws = await good({}, rotated);
    now = T0 + 30_000;
    // Inside the cooldown: not verified, but retryable, so a real rotation never goes to the DLQ.
    expect(await failure(verify(jws))).toMatchObject({ code: 'ONSIDE_JWKS_UNAVAILABLE', retryable: true });
    now = T0 + 60_000;
    expect((await verify(jws)).installationToken).toBe('a1b2c3d4-onside-install-token-5e6f');
    expect(onside.jwksFetches()).toBe(2);
  });

  it('refetches a JWKS older than its max age (10 min)', async () => {
    const jws = await good();
    await verify(jws);
    now = T0 + 600_000;
    await verify(jws);
    expect(onside.jwksFetches()).toBe(2);
  });

  it('an unreachable or broken JWKS is ONSIDE_JWKS_UNAVAILABLE, retryable', async () => {
    onside.jwksStatus = 500;
    expect(await failure(verify(await good()))).toMatchObject({ code: 'ONSIDE_JWKS_UNAVAILABLE', retryable: true });
    onside.jwksStatus = 200;
    onside.keys = 'not a key list' as never;
    jwks = createJwksCache({ url: `${onside.url}/.well-known/jwks.json`, http, now: () => now });
    expect(await failure(verify(await good()))).toMatchObject({ code: 'ONSIDE_JWKS_UNAVAILABLE', retryable: true });
    const down = createJwksCache({ url: `${await closedPortUrl()}/.well-known/jwks.json`, http, now: () => now });
    expect(await failure(verifyOnsideJwsWith(await good(), expected, { getKey: down.getKey, now: () => now }))).toMatchObject({
      code: 'ONSIDE_JWKS_UNAVAILABLE',
      retryable: true,
    });
  });
});
