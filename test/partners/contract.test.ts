/**
 * The partner clients against the real sandbox process over HTTP. Each side read the wire format from
 * the spec on its own (they share no code), so a misreading on one side shows up here as a rejection.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exampleAndroidSession, exampleEvent, exampleIosSession, exampleRevenueEvent } from '@s2s/contracts';
import { createOathClient, createOnsideClient, createSingularClient, PartnerError } from '@s2s/partners';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, startSandbox } from '../support/processes.js';

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});

const singularApp = { sdkKey: 'contract-sdk-key', ddlEnabled: true };

describe('Singular client ↔ sandbox', () => {
  it('sends a first session the sandbox takes as an install, and relays its deferred deep link', async () => {
    const session = exampleIosSession(101);
    await sandbox.post('/_sandbox/scenarios', {
      singular: {
        ddl: [
          {
            device: session.ids.idfv,
            app: session.bundleId,
            deferred_deeplink: 'myapp://promo/42',
            deferred_passthrough: 'pt-42',
          },
        ],
      },
    });
    const client = createSingularClient({ baseUrl: `${sandbox.url}/singular` });
    const { answer } = await client.session(session, singularApp, { install: true });
    expect(answer).toMatchObject({ deferredDeeplink: 'myapp://promo/42', deferredPassthrough: 'pt-42' });
    const [entry] = await sandbox.requests(`?partner=singular&device=${session.ids.idfv}`);
    expect(entry).toMatchObject({ outcome: 'install', status: 200 });
    expect(entry?.query.a).toBe('contract-sdk-key');
    await client.close();
  });

  it('sends Android sessions, events and revenue events that pass the strict sandbox', async () => {
    const client = createSingularClient({ baseUrl: `${sandbox.url}/singular` });
    const session = exampleAndroidSession(102);
    await client.session(session, singularApp, { install: true });
    await client.event(exampleEvent(session), singularApp);
    await client.event(exampleRevenueEvent(session), singularApp);
    const log = await sandbox.requests(`?partner=singular&device=${session.ids.asid}`);
    expect(log.map((e) => e.outcome)).toEqual(['install', 'event', 'event']);
    expect(log.map((e) => e.path)).toEqual(['/singular/api/v1/launch', '/singular/api/v1/evt', '/singular/api/v1/evt']);
    expect(log[2]?.query).toMatchObject({ n: '__iap__', amt: '1.99', cur: 'USD' });
    await client.close();
  });

  it('classifies a sandbox 503 as retryable and a rejection as permanent', async () => {
    const client = createSingularClient({ baseUrl: `${sandbox.url}/singular` });
    const session = exampleIosSession(103);
    await sandbox.post('/_sandbox/faults', { partner: 'singular', kind: 'error', status: [503], count: 1 });
    const unavailable = await client.session(session, singularApp, { install: true }).catch((e: unknown) => e);
    expect(unavailable).toBeInstanceOf(PartnerError);
    expect(unavailable).toMatchObject({ retryable: true, inDoubt: false });
    const rejected = await client
      .session({ ...session, platform: 'Windows' as 'iOS' }, singularApp, { install: true })
      .catch((e: unknown) => e);
    expect(rejected).toMatchObject({ code: 'PARTNER_REJECTED', retryable: false, reason: 'invalid platform: Windows' });
    await client.close();
  });
});

describe('Oath client ↔ sandbox', () => {
  it('signs installs the sandbox accepts, and relays the claims it scripted', async () => {
    const base = exampleIosSession(201);
    const session = { ...base, attStatus: 3, ids: { ...base.ids, idfa: 'DFC5A647-9043-4699-B2A5-76F03A97064B' } };
    await sandbox.post('/_sandbox/scenarios', {
      oath: {
        claims: [{ mi: session.ids.idfa, claims: [{ event_type: 200, campaign_id: 302934875, campaign_name: 'spring' }] }],
      },
    });
    const client = createOathClient({ baseUrl: `${sandbox.url}/oath` });
    const { answer } = await client.install(
      session,
      { dataProviderId: 'sandbox-dp', hmacKey: 'sandbox-oath-key' },
      { requestId: 'req-201' },
    );
    expect(answer.claims).toEqual([expect.objectContaining({ eventType: 200, campaignId: 302934875, campaignName: 'spring' })]);
    const android = exampleAndroidSession(202);
    const unattributed = await client.install(
      android,
      { dataProviderId: 'sandbox-dp', hmacKey: 'sandbox-oath-key' },
      { requestId: 'req-202' },
    );
    expect(unattributed.answer.claims).toEqual([]);
    // ATT denied: no advertising ID, the install still goes to Oath with its IP (S-O14).
    const noIdfa = await client.install(
      exampleIosSession(204),
      { dataProviderId: 'sandbox-dp', hmacKey: 'sandbox-oath-key' },
      { requestId: 'req-204' },
    );
    expect(noIdfa.status).toBe(200);
    const [entry] = await sandbox.requests('?partner=oath').then((l) => l.filter((e) => e.query.id === 'req-204'));
    expect(entry?.query).not.toHaveProperty('mi');
    expect(entry?.query.ip).toBe(exampleIosSession(204).ip);
    await client.close();
  });

  it('is refused by the sandbox when signed with another key', async () => {
    const client = createOathClient({ baseUrl: `${sandbox.url}/oath` });
    const err = await client
      .install(exampleAndroidSession(203), { dataProviderId: 'sandbox-dp', hmacKey: 'not-the-key' }, { requestId: 'req-203' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PARTNER_REJECTED', retryable: false, httpStatus: 403 });
    await client.close();
  });
});

describe('Onside client ↔ sandbox', () => {
  const storeSession = (ip: string) => ({
    onside: {
      storeSessions: [
        {
          ip,
          user: `user-${ip}`,
          device: { device_model: 'iPhone15,2', os_version: '17.2', language: 'en-US' },
          attribution_data: { marketing_campaign: 'summer_sale', source: 'facebook_ads', tags: ['video'], click_id: 'clk_1' },
        },
      ],
    },
  });

  it('matches on the device IP the relay forwards and verifies the signed answer', async () => {
    const session = exampleIosSession(301);
    await sandbox.post('/_sandbox/scenarios', storeSession(session.ip as string));
    const client = createOnsideClient({ baseUrl: `${sandbox.url}/onside` });
    const result = await client.install(session);
    expect(result.way).toBe('relayed');
    expect(result.answer.attributionData).toEqual({
      marketingCampaign: 'summer_sale',
      source: 'facebook_ads',
      tags: ['video'],
      clickId: 'clk_1',
    });
    // The same token again: the same installation (S-N6).
    expect((await client.install(session)).answer.installationToken).toBe(result.answer.installationToken);
    await client.close();
  });

  it('answers with a JWS that openssl verifies against the published JWKS', async () => {
    const session = exampleIosSession(302);
    const res = await fetch(`${sandbox.url}/onside/merchant-api/v1/attribution/install`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': session.ip as string },
      body: JSON.stringify({
        token: 'tok-302',
        bundle_id: session.bundleId,
        device_model: 'iPhone15,2',
        os_version: '17.2',
        language: 'en-US',
      }),
    });
    expect(res.headers.get('content-type')).toMatch(/application\/jose/);
    const jws = await res.text();
    const [h, p, s] = jws.split('.') as [string, string, string];
    const { kid, alg } = JSON.parse(Buffer.from(h, 'base64url').toString());
    expect(alg).toBe('RS256');
    const jwks = (await (await fetch(`${sandbox.url}/onside/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const jwk = jwks.keys.find((k) => k.kid === kid);
    const dir = mkdtempSync(join(tmpdir(), 'jws-'));
    try {
      writeFileSync(
        join(dir, 'pub.pem'),
        createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }),
      );
      writeFileSync(join(dir, 'sig'), Buffer.from(s, 'base64url'));
      writeFileSync(join(dir, 'data'), `${h}.${p}`);
      const verify = (data: string) =>
        execFileSync('openssl', ['dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig'), data], {
          encoding: 'utf8',
        });
      expect(verify(join(dir, 'data'))).toMatch(/Verified OK/);
      writeFileSync(join(dir, 'tampered'), `${h}.${p}x`);
      expect(() => verify(join(dir, 'tampered'))).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('follows a key rotation, and refuses forged, expired, mis-addressed or foreign-key answers', async () => {
    const client = createOnsideClient({ baseUrl: `${sandbox.url}/onside`, jwksCooldownMs: 0 });
    const session = (n: number) => exampleIosSession(n);
    await client.install(session(310)); // caches the current JWKS
    await sandbox.post('/_sandbox/onside/rotate-key', { kid: 'rotated_key_2', keepOld: false });
    expect((await client.install(session(311))).answer.installationToken).toBeTruthy();

    const cases: [string, string][] = [
      ['bad-signature', 'signature'],
      ['unknown-kid', 'kid'],
      ['expired', 'exp'],
      ['wrong-aud', 'aud'],
      ['wrong-iss', 'iss'],
      ['mismatched-request-token', 'request_token'],
      ['alg-none', 'alg'],
    ];
    let n = 320;
    for (const [mode, check] of cases) {
      await sandbox.post('/_sandbox/onside/forge', { mode, count: 1 });
      const err = await client.install(session(n++)).catch((e: unknown) => e);
      expect(err, mode).toMatchObject({ code: 'ONSIDE_VERIFICATION_FAILED', retryable: false, check });
    }
    await client.close();
  });
});
