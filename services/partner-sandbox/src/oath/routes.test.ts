import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, lastEntry, postJson, qs } from '../testing.js';
import { oathSignature } from './signature.js';

const KEY = 'abcde1234';
const MI = '38400000-8cf0-11bd-b23e-10b96e40000d';
const INSTALL: Record<string, string> = {
  dp: 'acme',
  id: '0f8fad5b-d9cb-469f-a165-70867728950e',
  ai: 'com.example.app',
  mi: MI,
  it: '1445539353000',
  ir: 'utm_source=google&utm_medium=cpc',
  ua: 'k1=v1;k2=v 2',
  ip: '203.0.113.7',
};

/** The URL a correct client sends: bs first, over the query bytes exactly as sent. */
function signedUrl(params: Record<string, string>, key = KEY): string {
  const query = qs(params);
  return `/oath/appinstall?bs=${oathSignature(key, `/appinstall?${query}`)}&${query}`;
}

describe('Oath appinstall emulator', () => {
  let app: FastifyInstance;
  beforeEach(async () => {
    app = await buildTestApp({ SANDBOX_OATH_KEY: KEY, SANDBOX_OATH_NETWORK_ID: 'net-1' });
  });
  afterEach(() => app.close());

  it("accepts the spec's second worked example byte for byte, echoing original_request and network_id", async () => {
    const url =
      '/oath/appinstall?bs=78a445cbc8abb0df00885d5115cbeb672c9e61bda0d7947896a99a62943d5f71&dp=acme&id=0f8fad5b-d9cb-469f-a165-70867728950e&ai=com.example.app&mi=38400000-8cf0-11bd-b23e-10b96e40000d&it=1445539353000&ir=utm_source%3Dgoogle%26utm_medium%3Dcpc&ua=k1%3Dv1%3Bk2%3Dv%202&ip=203.0.113.7';
    const r = await app.inject(url);
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ original_request: `http://localhost:80${url}`, network_id: 'net-1' });
    expect(await lastEntry(app)).toMatchObject({ outcome: 'no-match', deviceKey: MI, details: { ua: { k1: 'v1', k2: 'v 2' } } });
  });

  it('answers 403 invalid signature for a missing, misplaced, wrong or re-encoded bs', async () => {
    const good = signedUrl(INSTALL);
    const query = good.slice(good.indexOf('&') + 1);
    const bs = good.slice(good.indexOf('bs=') + 3, good.indexOf('&'));
    const bad = [
      `/oath/appinstall?${query}`,
      `/oath/appinstall?${query}&bs=${bs}`,
      signedUrl(INSTALL, 'wrong-key'),
      `/oath/appinstall?bs=${bs}&${query.replace('v%202', 'v+2')}`,
      `/oath/appinstall?bs=${bs}&${query}&extra=1`,
    ];
    for (const url of bad) {
      const r = await app.inject(url);
      expect(r.statusCode, url).toBe(403);
      expect(r.json()).toEqual({ error: 'invalid signature' });
    }
    expect((await app.inject(`/oath/appinstall?bs=${bs.toUpperCase()}&${query}`)).statusCode).toBe(200);
  });

  it('answers 400 missing <field> for each required field, and logs a missing IP as a GDPR violation', async () => {
    for (const f of ['dp', 'id', 'ai', 'it']) {
      const { [f]: _, ...rest } = INSTALL;
      const r = await app.inject(signedUrl(rest));
      expect(r.statusCode, f).toBe(400);
      expect(r.json()).toEqual({ error: `missing ${f}` });
    }
    const { ip: _, ...noIp } = INSTALL;
    const r = await app.inject(signedUrl(noIp));
    expect([r.statusCode, r.json()]).toEqual([400, { error: 'missing ip' }]);
    expect(await lastEntry(app)).toMatchObject({ outcome: 'rejected', details: { gdprViolation: true } });
    expect((await lastEntry(app)).warnings).toContain('gdpr: install without an IP address');
    const v6only = await app.inject(signedUrl({ ...noIp, ipv6: '2001:db8:85a3:8d3:1319:8a2e:370:7348' }));
    expect(v6only.statusCode).toBe(200);
  });

  it('answers 400 malformed <field> for it, ai, mi, ip and ipv6 that are not well formed', async () => {
    const cases: [string, string][] = [
      ['it', '1445539353'],
      ['it', '14455393530001'],
      ['ai', '57758615'],
      ['ai', 'not a package'],
      ['mi', 'not-an-id'],
      ['ip', '2001:db8::1'],
      ['ipv6', '203.0.113.7'],
    ];
    for (const [f, value] of cases) {
      const r = await app.inject(signedUrl({ ...INSTALL, [f]: value }));
      expect([r.statusCode, r.json()], `${f}=${value}`).toEqual([400, { error: `malformed ${f}` }]);
    }
    const ios = await app.inject(signedUrl({ ...INSTALL, ai: '577586159', ir: '' }));
    expect(ios.statusCode).toBe(200);
  });

  it('returns the scripted claims for a matching mi or IP, filled out, and none by default', async () => {
    await postJson(app, '/_sandbox/scenarios', {
      oath: {
        claims: [
          { mi: MI.toUpperCase(), claims: [{ event_type: 200, campaign_id: 7 }, { event_type: 100 }] },
          { ip: '198.51.100.1', claims: [{ campaign_type: 'reengagement' }] },
        ],
      },
    });
    const byMi = (await app.inject(signedUrl(INSTALL))).json();
    expect(byMi.claims).toHaveLength(2);
    expect(byMi.claims[0]).toMatchObject({
      event_type: 200,
      campaign_id: 7,
      ip_address: '203.0.113.7',
      timestamp_ms: expect.any(Number),
    });
    expect(byMi.claims[1]).toMatchObject({ event_type: 100, campaign_type: 'app_install', demand_platform_id: 1 });
    expect(byMi.network_id).toBe('net-1');
    expect((await lastEntry(app)).outcome).toBe('claimed');

    const other = { ...INSTALL, mi: '11111111-2222-3333-4444-555555555555' };
    const byIp = (await app.inject(signedUrl({ ...other, id: 'b', ip: '198.51.100.1' }))).json();
    expect(byIp.claims).toEqual([expect.objectContaining({ campaign_type: 'reengagement' })]);
    const none = (await app.inject(signedUrl({ ...other, id: 'c' }))).json();
    expect(none).not.toHaveProperty('claims');
    expect(none.network_id).toBe('net-1');
  });

  it('takes an install with no mi (no advertising ID) and matches it by IP only (S-O14)', async () => {
    const { mi: _, ...noMi } = INSTALL;
    await postJson(app, '/_sandbox/scenarios', { oath: { claims: [{ mi: MI, claims: [{ event_type: 200 }] }] } });
    const byDevice = await app.inject(signedUrl({ ...noMi, id: 'no-mi-1' }));
    expect(byDevice.statusCode).toBe(200);
    expect(byDevice.json()).not.toHaveProperty('claims');
    expect((await lastEntry(app)).warnings).toContain('mi: absent (no advertising ID), only the IP can match');
    await postJson(app, '/_sandbox/scenarios', { oath: { claims: [{ ip: INSTALL.ip, claims: [{ event_type: 100 }] }] } });
    const byIp = await app.inject(signedUrl({ ...noMi, id: 'no-mi-2' }));
    expect(byIp.json().claims).toEqual([expect.objectContaining({ event_type: 100 })]);
  });

  it('never matches an all-zero mi by device (S-O14)', async () => {
    const zero = '00000000-0000-0000-0000-000000000000';
    await postJson(app, '/_sandbox/scenarios', { oath: { claims: [{ mi: zero }] } });
    const r = await app.inject(signedUrl({ ...INSTALL, mi: zero }));
    expect(r.statusCode).toBe(200);
    expect(r.json()).not.toHaveProperty('claims');
  });

  it('answers a repeated id with the first answer and counts it as a duplicate', async () => {
    await postJson(app, '/_sandbox/scenarios', { oath: { claims: [{ mi: MI }] } });
    const first = (await app.inject(signedUrl(INSTALL))).json();
    await app.inject({ method: 'DELETE', url: '/_sandbox/scenarios' });
    const again = await app.inject(signedUrl({ ...INSTALL, it: '1445539354000' }));
    expect(again.json()).toEqual(first);
    expect(await lastEntry(app)).toMatchObject({ duplicate: true, outcome: 'claimed' });
    expect((await app.inject('/_sandbox/stats')).json().partners.oath.duplicates).toBe(1);
  });

  it('parses ua per S-O7: split on ;, then on the first =, then decode each value', async () => {
    const ua = `os=${encodeURIComponent('iOS;17=2')};model=iPhone15%2C2;pct=${encodeURIComponent('100%')};bare`;
    await app.inject(signedUrl({ ...INSTALL, ua }));
    const entry = await lastEntry(app);
    expect(entry.details?.ua).toEqual({ os: 'iOS;17=2', model: 'iPhone15,2', pct: '100%' });
    expect(entry.warnings).toEqual(['ua: "bare" is not key=value']);
  });
});
