import { execFileSync } from 'node:child_process';
import { exampleAndroidSession, exampleIosSession, type SessionRecord } from '@s2s/contracts';
import { describe, expect, it } from 'vitest';
import { buildOathRequest, oathUaValue, signOath } from './build.js';

const KEY = 'abcde1234';
const ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const MI = '38400000-8cf0-11bd-b23e-10b96e40000d';

/** The Android install of the spec's §2.3 vectors: no referrer, no ua pairs unless added. */
function vectorRecord(extra: Partial<SessionRecord> = {}): SessionRecord {
  const { installRef: _r, ...base } = exampleAndroidSession();
  return { ...base, bundleId: 'com.example.app', ids: { aifa: MI }, firstLaunchMs: 1445539353000, ip: '203.0.113.7', ...extra };
}

/** HMAC-SHA256 by an independent tool: the openssl CLI, message on stdin. */
function opensslHmac(key: string, message: string): string {
  const out = execFileSync('openssl', ['dgst', '-sha256', '-hmac', key], { input: message }).toString();
  const hex = out.trim().split('= ').pop() ?? '';
  expect(hex).toMatch(/^[0-9a-f]{64}$/);
  return hex;
}

describe('Oath appinstall request (§2.2–§2.4)', () => {
  it('reproduces the first worked vector of §2.3 byte for byte', () => {
    const req = buildOathRequest(vectorRecord(), { dataProviderId: 'acme', hmacKey: KEY, requestId: ID });
    expect(req.signedMessage).toBe(`/appinstall?dp=acme&id=${ID}&ai=com.example.app&mi=${MI}&it=1445539353000&ip=203.0.113.7`);
    expect(req.bs).toBe('d1fafb5cd80f5708e84af9b9a46a39d6c7420662bdeb59bf4479b2f4e983ffa5');
    expect(req.pathAndQuery).toBe(
      `/appinstall?bs=${req.bs}&dp=acme&id=${ID}&ai=com.example.app&mi=${MI}&it=1445539353000&ip=203.0.113.7`,
    );
  });

  it('reproduces the second worked vector of §2.3 byte for byte (ir and ua)', () => {
    const r = vectorRecord({
      installRef: { referrer: 'utm_source=google&utm_medium=cpc', clickTimestampSeconds: 1, installBeginTimestampSeconds: 2 },
      uaPairs: { k1: 'v1', k2: 'v 2' },
    });
    const req = buildOathRequest(r, { dataProviderId: 'acme', hmacKey: KEY, requestId: ID });
    expect(req.signedMessage).toBe(
      `/appinstall?dp=acme&id=${ID}&ai=com.example.app&mi=${MI}&it=1445539353000&ir=utm_source%3Dgoogle%26utm_medium%3Dcpc&ua=k1%3Dv1%3Bk2%3Dv%202&ip=203.0.113.7`,
    );
    expect(req.bs).toBe('78a445cbc8abb0df00885d5115cbeb672c9e61bda0d7947896a99a62943d5f71');
  });

  it('signs exactly what it sends: openssl over the query after bs agrees, bs is first', () => {
    const r: SessionRecord = {
      ...exampleIosSession(3),
      attStatus: 3,
      ids: { idfv: exampleIosSession(3).ids.idfv, idfa: 'DFC5A647-9043-4699-B2A5-76F03A97064B' },
      ipv6: '2001:db8:85a3:8d3:1319:8a2e:370:7348',
      uaPairs: { os: 'iOS 17.2; build=21C62', 'k=1': '100%' },
    };
    const key = 'k3y;with spaces&=';
    const req = buildOathRequest(r, { dataProviderId: 'acme media', hmacKey: key, requestId: ID });
    const [first, ...rest] = req.pathAndQuery.slice('/appinstall?'.length).split('&');
    expect(first).toBe(`bs=${req.bs}`);
    expect(req.signedMessage).toBe(`/appinstall?${rest.join('&')}`);
    expect(req.bs).toBe(opensslHmac(key, req.signedMessage));
    expect(signOath(KEY, 'x')).toBe(opensslHmac(KEY, 'x'));
  });

  it('iOS: ai is the App Store id; mi is the IDFA only with ATT 3, else omitted and the install still goes with ip (S-O14)', () => {
    const idfa = 'DFC5A647-9043-4699-B2A5-76F03A97064B';
    const s = exampleIosSession();
    const allowed = new URLSearchParams(
      buildOathRequest(
        { ...s, attStatus: 3, ids: { ...s.ids, idfa } },
        { dataProviderId: 'd', hmacKey: KEY, requestId: ID },
      ).pathAndQuery.split('?')[1],
    );
    expect([allowed.get('ai'), allowed.get('mi')]).toEqual(['577586159', idfa]);
    const denied = new URLSearchParams(
      buildOathRequest(
        { ...s, ids: { ...s.ids, idfa } },
        { dataProviderId: 'd', hmacKey: KEY, requestId: ID },
      ).pathAndQuery.split('?')[1],
    );
    expect(denied.has('mi')).toBe(false);
    expect(denied.get('ip')).toBe('203.0.0.1');
    expect(denied.has('ir')).toBe(false);
    const { storeId: _s, ...noStore } = s;
    expect(() => buildOathRequest(noStore, { dataProviderId: 'd', hmacKey: KEY, requestId: ID })).toThrow(
      expect.objectContaining({ code: 'PARTNER_INPUT_INVALID' }),
    );
  });

  it('Android: ai is the package, mi the GAID, ir the raw referrer encoded once; it from installTimeS when no first launch', () => {
    const r = exampleAndroidSession(5);
    const q = new URLSearchParams(
      buildOathRequest(r, { dataProviderId: 'd', hmacKey: KEY, requestId: ID }).pathAndQuery.split('?')[1],
    );
    expect(q.get('ai')).toBe('com.example.app');
    expect(q.get('mi')).toBe(r.ids.aifa);
    expect(q.get('ir')).toBe('utm_source=google&utm_medium=cpc&utm_campaign=launch');
    expect(q.get('it')).toBe('1763800000000');
    expect(q.get('id')).toBe(ID);
  });

  it('sends both ip and ipv6= (S-O8) when both are known', () => {
    const r = { ...exampleAndroidSession(), ipv6: '2001:db8:85a3:8d3:1319:8a2e:370:7348' };
    const { pathAndQuery } = buildOathRequest(r, { dataProviderId: 'd', hmacKey: KEY, requestId: ID });
    expect(pathAndQuery).toMatch(/&ip=198\.51\.0\.1&ipv6=2001%3Adb8%3A85a3%3A8d3%3A1319%3A8a2e%3A370%3A7348$/);
  });

  it('is stable for the same request id (retries), and changes with it', () => {
    const input = { dataProviderId: 'd', hmacKey: KEY, requestId: ID };
    const a = buildOathRequest(exampleAndroidSession(), input);
    expect(buildOathRequest(exampleAndroidSession(), input)).toEqual(a);
    expect(buildOathRequest(exampleAndroidSession(), { ...input, requestId: 'other' }).bs).not.toBe(a.bs);
  });
});

describe('Oath ua list (§2.4, S-O7)', () => {
  it('escapes ; = % inside keys and values, joins k=v;k=v, and the query encodes the list once', () => {
    const pairs = { os: 'iOS;17=2%', 'k=ey': 'v', plain: 'a b' };
    const value = oathUaValue(pairs);
    expect(value).toBe('os=iOS%3B17%3D2%25;k%3Dey=v;plain=a b');
    const r = { ...exampleAndroidSession(), uaPairs: pairs };
    const raw = buildOathRequest(r, { dataProviderId: 'd', hmacKey: KEY, requestId: ID }).pathAndQuery.match(/&ua=([^&]*)/)?.[1];
    expect(raw).toBe('os%3DiOS%253B17%253D2%2525%3Bk%253Dey%3Dv%3Bplain%3Da%20b');
    // The receiver's reading (S-O7): decode once, split on ;, split each pair on its first =, decode each value.
    const parsed = Object.fromEntries(
      decodeURIComponent(raw ?? '')
        .split(';')
        .map((p) => {
          const i = p.indexOf('=');
          return [decodeURIComponent(p.slice(0, i)), decodeURIComponent(p.slice(i + 1))];
        }),
    );
    expect(parsed).toEqual(pairs);
  });

  it('leaves ua out when there are no pairs', () => {
    expect(oathUaValue({})).toBeUndefined();
    expect(
      buildOathRequest(exampleAndroidSession(), { dataProviderId: 'd', hmacKey: KEY, requestId: ID }).pathAndQuery,
    ).not.toContain('&ua=');
  });
});
