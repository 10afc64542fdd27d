import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, postJson, T0 } from '../testing.js';

const URL = '/onside/merchant-api/v1/attribution/install';
const BODY = { token: 'tok-1', bundle_id: 'com.example.app', device_model: 'iPhone15,2', os_version: '17.2', language: 'en-US' };

describe('Onside forgeries and key rotation (§3.5, §3.6)', () => {
  let app: FastifyInstance;
  beforeEach(async () => {
    app = await buildTestApp();
  });
  afterEach(() => app.close());

  const install = async (token = BODY.token) => {
    const r = await postJson(app, URL, { ...BODY, token });
    expect(r.statusCode).toBe(200);
    return r.body;
  };
  const jwks = async (): Promise<JSONWebKeySet> => (await app.inject('/onside/.well-known/jwks.json')).json();
  /** A client doing the checks of §3.5: the error code it fails with, or the payload. */
  const check = async (jws: string, keys?: JSONWebKeySet) => {
    try {
      const { payload } = await jwtVerify(jws, createLocalJWKSet(keys ?? (await jwks())), {
        issuer: 'https://onside.io',
        audience: BODY.bundle_id,
        algorithms: ['RS256'],
        currentDate: new Date(T0),
        clockTolerance: 60,
        // Makes jose check that iat is not in the future (check 6 of §3.5).
        maxTokenAge: '2h',
      });
      return { payload };
    } catch (err) {
      return { code: (err as { code?: string }).code, claim: (err as { claim?: string }).claim };
    }
  };

  it.each([
    ['bad-signature', { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' }],
    ['wrong-aud', { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'aud' }],
    ['wrong-iss', { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iss' }],
    ['expired', { code: 'ERR_JWT_EXPIRED', claim: 'exp' }],
    ['future-iat', { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED', claim: 'iat' }],
    ['unknown-kid', { code: 'ERR_JWKS_NO_MATCHING_KEY' }],
    ['alg-none', { code: 'ERR_JOSE_ALG_NOT_ALLOWED' }],
    ['alg-hs256', { code: 'ERR_JOSE_ALG_NOT_ALLOWED' }],
  ] as const)('forges %s so that a checking client rejects it', async (mode, failure) => {
    const honest = await check(await install('honest'));
    expect(honest).toHaveProperty('payload');
    expect((await postJson(app, '/_sandbox/onside/forge', { mode })).statusCode).toBe(201);
    expect(await check(await install())).toEqual(failure);
    // One forgery by default: the next answer is honest again.
    expect(await check(await install())).toHaveProperty('payload');
  });

  it('forges a mismatched request_token that verifies but is bound to another request', async () => {
    await postJson(app, '/_sandbox/onside/forge', { mode: 'mismatched-request-token' });
    const r = await check(await install());
    expect(r.payload?.request_token).not.toBe(BODY.token);
  });

  it('limits a forgery to a token and a count', async () => {
    await postJson(app, '/_sandbox/onside/forge', { mode: 'wrong-aud', token: 'victim', count: 2 });
    expect(await check(await install('bystander'))).toHaveProperty('payload');
    expect((await check(await install('victim'))).claim).toBe('aud');
    expect((await check(await install('victim'))).claim).toBe('aud');
    expect(await check(await install('victim'))).toHaveProperty('payload');
  });

  it('refuses an unknown forgery mode with the failing field', async () => {
    const r = await postJson(app, '/_sandbox/onside/forge', { mode: 'rot13', count: 0 });
    expect(r.statusCode).toBe(400);
    expect(r.json().errors.map((e: { field: string }) => e.field)).toEqual(['mode', 'count']);
  });

  it('rotates to a new kid keeping the old key published, or publishing only the new one', async () => {
    const before = await jwks();
    const oldToken = await install('t-old');
    const kept = await postJson(app, '/_sandbox/onside/rotate-key', { kid: 'public_key_2' });
    expect(kept.json()).toEqual({ kid: 'public_key_2', published: ['public_key_2', 'public_key_1'] });
    const newToken = await install('t-new');
    expect(decodeProtectedHeader(newToken).kid).toBe('public_key_2');
    // A client holding only the old JWKS must refetch: the new kid is not in it.
    expect(await check(newToken, before)).toEqual({ code: 'ERR_JWKS_NO_MATCHING_KEY', claim: undefined });
    expect(await check(newToken)).toHaveProperty('payload');
    expect(await check(oldToken)).toHaveProperty('payload');

    const only = await postJson(app, '/_sandbox/onside/rotate-key', { kid: 'public_key_3', keepOld: false });
    expect(only.json()).toEqual({ kid: 'public_key_3', published: ['public_key_3'] });
    expect((await check(oldToken)).code).toBe('ERR_JWKS_NO_MATCHING_KEY');
    expect(decodeProtectedHeader(await install('t-3')).kid).toBe('public_key_3');
  });

  it('rotates with a generated kid when none is given, and a reset keeps the keys', async () => {
    const r = await app.inject({ method: 'POST', url: '/_sandbox/onside/rotate-key' });
    expect(r.statusCode).toBe(200);
    const { kid } = r.json();
    expect(kid).not.toBe('public_key_1');
    await app.inject({ method: 'POST', url: '/_sandbox/reset' });
    expect((await jwks()).keys.map((k) => k.kid)).toEqual([kid, 'public_key_1']);
  });
});
