import { createHmac, timingSafeEqual } from 'node:crypto';
import { exampleAndroidSession, exampleIosSession } from '@s2s/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failure } from '../testing/failure.js';
import { json, startServer, type TestServer } from '../testing/server.js';
import type { PartnerLogger } from '../types.js';
import { createOathClient, type OathClient } from './client.js';

const settings = { dataProviderId: 'acme', hmacKey: 'oath_SECRET_hmac_key' };
const requestId = '0190a8e2-7c4e-7a1b-9c1d-0123456789ab';

/** What a strict receiver does (§2.7): bs first, HMAC over the raw bytes after it. */
function verifiesRaw(rawUrl: string, key: string): boolean {
  const m = /^\/appinstall\?bs=([0-9a-f]{64})&(.*)$/.exec(rawUrl);
  if (!m) return false;
  const want = createHmac('sha256', key).update(`/appinstall?${m[2]}`).digest();
  return timingSafeEqual(Buffer.from(m[1] ?? '', 'hex'), want);
}

describe('Oath client against a local server', () => {
  let server: TestServer;
  let client: OathClient;
  const lines: object[] = [];
  const logger: PartnerLogger = { debug: (o) => lines.push(o), warn: (o) => lines.push(o) };
  beforeEach(async () => {
    server = await startServer((q, res) =>
      verifiesRaw(q.url, settings.hmacKey)
        ? json(res, 200, { original_request: q.url })
        : json(res, 403, { error: 'invalid signature' }),
    );
    lines.length = 0;
    client = createOathClient({ baseUrl: server.url, timeoutMs: 2_000, logger });
  });
  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('sends a GET whose raw query a strict receiver verifies; no match is an empty claims list', async () => {
    const out = await client.install(exampleIosSession(), settings, { requestId });
    expect(server.requests[0]?.method).toBe('GET');
    expect(verifiesRaw(server.requests[0]?.url ?? '', settings.hmacKey)).toBe(true);
    expect(out).toMatchObject({ answer: { claims: [] }, status: 200 });
    expect(out.url).toMatch(/\/appinstall\?bs=\[redacted\]&dp=acme&id=/);
  });

  it('returns the claims of a match', async () => {
    server.handle((_q, res) =>
      json(res, 200, { claims: [{ timestamp_ms: 1445539353000, event_type: 200, campaign_id: 7 }], network_id: 'N1' }),
    );
    const out = await client.install(exampleAndroidSession(), settings, { requestId });
    expect(out.answer).toEqual({ claims: [{ timestampMs: 1445539353000, eventType: 200, campaignId: 7 }], networkId: 'N1' });
  });

  it('sends the same id (and bytes) on a retry of the same install (S-O13)', async () => {
    await client.install(exampleAndroidSession(), settings, { requestId });
    await client.install(exampleAndroidSession(), settings, { requestId });
    expect(server.requests[0]?.url).toBe(server.requests[1]?.url);
    expect(new URLSearchParams(server.requests[0]?.url.split('?')[1]).get('id')).toBe(requestId);
  });

  it('a 4xx is PARTNER_REJECTED with the partner error, not retryable (S-O2)', async () => {
    const e = await failure(client.install(exampleIosSession(), { ...settings, hmacKey: 'wrong_SECRET_key' }, { requestId }));
    expect(e).toMatchObject({
      code: 'PARTNER_REJECTED',
      retryable: false,
      httpStatus: 403,
      reason: 'HTTP 403: invalid signature',
      partnerAnswer: '{"error":"invalid signature"}',
    });
  });

  it('429 and 5xx are PARTNER_UNAVAILABLE, retryable', async () => {
    for (const status of [429, 500, 503]) {
      server.handle((_q, res) => json(res, status, {}));
      expect(await failure(client.install(exampleIosSession(), settings, { requestId }))).toMatchObject({
        code: 'PARTNER_UNAVAILABLE',
        retryable: true,
        httpStatus: status,
      });
    }
  });

  it('a timeout after sending is in doubt; a reset after sending too', async () => {
    server.handle(() => {});
    expect(await failure(client.install(exampleIosSession(), settings, { requestId }, { timeoutMs: 100 }))).toMatchObject({
      code: 'PARTNER_TIMEOUT',
      inDoubt: true,
    });
    server.handle((_q, _r, raw) => raw.socket.destroy());
    expect(await failure(client.install(exampleIosSession(), settings, { requestId }))).toMatchObject({
      code: 'PARTNER_CONNECTION_LOST',
      inDoubt: true,
    });
  });

  it('neither the HMAC key nor bs appears in errors or logs, even when Oath echoes the request', async () => {
    let bs = '';
    server.handle((q, res) => {
      bs = /bs=([0-9a-f]+)/.exec(q.url)?.[1] ?? '';
      json(res, 400, { error: `bad request ${q.url} signed with ${settings.hmacKey}` });
    });
    const e = await failure(client.install(exampleIosSession(), settings, { requestId }));
    expect(bs).toMatch(/^[0-9a-f]{64}$/);
    const text = `${e.message} ${e.reason} ${e.partnerAnswer} ${JSON.stringify(e)} ${JSON.stringify(lines)}`;
    expect(text).not.toContain(settings.hmacKey);
    expect(text).not.toContain(bs);
    expect(e.reason).toContain('bs=[redacted]');
  });

  it('refuses to map an iOS install without the App Store id, without calling', async () => {
    const { storeId: _s, ...noStore } = exampleIosSession();
    expect(await failure(client.install(noStore, settings, { requestId }))).toMatchObject({
      code: 'PARTNER_INPUT_INVALID',
      retryable: false,
    });
    expect(server.requests).toHaveLength(0);
  });
});
