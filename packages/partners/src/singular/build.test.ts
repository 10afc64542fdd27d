import {
  type EventRecord,
  exampleAndroidSession,
  exampleEvent,
  exampleIosSession,
  exampleRevenueEvent,
  type SessionRecord,
} from '@s2s/contracts';
import { describe, expect, it } from 'vitest';
import { buildSingularEventQuery, buildSingularSessionQuery, type SingularApp } from './build.js';

const app: SingularApp = { sdkKey: 'acme_sh868sdjv', ddlEnabled: true };
const install = { install: true };

/** name → raw (encoded) value as it appears on the wire. */
function rawPairs(q: string): Map<string, string> {
  return new Map(q.split('&').map((p) => p.split('=', 2) as [string, string]));
}
const names = (q: string) => q.split('&').map((p) => p.split('=')[0]);
const decoded = (q: string) => Object.fromEntries(new URLSearchParams(q));

describe('Singular SESSION query', () => {
  it('maps an iOS first session to the §1.2–§1.4 names, in order, with no idfa when ATT is denied', () => {
    const q = buildSingularSessionQuery({ ...exampleIosSession(7), timestampMs: 1_763_800_000_123 }, app, install);
    expect(names(q)).toEqual([
      'a',
      'p',
      'i',
      'ip',
      've',
      'idfv',
      'att_authorization_status',
      'ma',
      'mo',
      'lc',
      'bd',
      'app_v',
      'umilisec',
      'data_sharing_options',
      'ua',
      'install',
      'install_time',
      'update_time',
      'install_receipt',
      'attribution_token',
      'ddl_enabled',
    ]);
    expect(decoded(q)).toMatchObject({
      a: 'acme_sh868sdjv',
      p: 'iOS',
      i: 'com.example.app',
      ip: '203.0.0.7',
      ve: '17.2',
      att_authorization_status: '2',
      ma: 'Apple',
      mo: 'iPhone15,2',
      lc: 'en_US',
      umilisec: '1763800000123',
      install: 'true',
      install_time: '1763800000',
      ddl_enabled: 'true',
    });
    expect(rawPairs(q).get('mo')).toBe('iPhone15%2C2');
  });

  it('sends idfa only with ATT 3 and never an all-zero one (S8)', () => {
    const idfa = 'DFC5A647-9043-4699-B2A5-76F03A97064B';
    const s = exampleIosSession();
    const authorised = decoded(buildSingularSessionQuery({ ...s, attStatus: 3, ids: { ...s.ids, idfa } }, app, install));
    expect(authorised).toMatchObject({ idfa, att_authorization_status: '3' });
    const denied = decoded(buildSingularSessionQuery({ ...s, attStatus: 2, ids: { ...s.ids, idfa } }, app, install));
    expect(denied.idfa).toBeUndefined();
    const zeros = '00000000-0000-0000-0000-000000000000';
    expect(
      decoded(buildSingularSessionQuery({ ...s, attStatus: 3, ids: { ...s.ids, idfa: zeros } }, app, install)).idfa,
    ).toBeUndefined();
  });

  it('sends ma and mo together or neither', () => {
    const { model: _m, ...noModel } = exampleIosSession();
    const { make: _k, ...noMake } = exampleIosSession();
    for (const r of [noModel, noMake]) {
      const d = decoded(buildSingularSessionQuery(r as SessionRecord, app, install));
      expect([d.ma, d.mo]).toEqual([undefined, undefined]);
    }
  });

  it('IPv6 goes in ip only with a country; never use_ip (S2)', () => {
    const { ip: _ip, ...s } = exampleIosSession();
    const q = buildSingularSessionQuery({ ...s, ipv6: '2001:db8::7', country: 'DE' }, app, install);
    expect(rawPairs(q).get('ip')).toBe('2001%3Adb8%3A%3A7');
    expect(decoded(q).country).toBe('DE');
    expect(q).not.toContain('use_ip');
    expect(() => buildSingularSessionQuery({ ...s, ipv6: '2001:db8::7' }, app, install)).toThrow(
      expect.objectContaining({ code: 'PARTNER_INPUT_INVALID', retryable: false }),
    );
    // IPv4 wins when both are known, and no country rides along.
    const both = decoded(buildSingularSessionQuery({ ...exampleIosSession(), ipv6: '2001:db8::7', country: 'DE' }, app, install));
    expect([both.ip, both.country]).toEqual(['203.0.0.1', undefined]);
  });

  it('time goes as umilisec only (S9): the device time, else the receive time, else nothing', () => {
    const s = exampleIosSession();
    const withTs = buildSingularSessionQuery({ ...s, timestampMs: 1_700_000_000_123 }, app, { install: true, receivedAtMs: 1 });
    expect(decoded(withTs).umilisec).toBe('1700000000123');
    expect(decoded(buildSingularSessionQuery(s, app, { install: true, receivedAtMs: 1_700_000_000_999 })).umilisec).toBe(
      '1700000000999',
    );
    expect(names(buildSingularSessionQuery(s, app, install))).not.toContain('umilisec');
    expect(withTs).not.toMatch(/(^|&)utime=/);
  });

  it('encodes data_sharing_options, global_properties and install_ref exactly once (exact bytes)', () => {
    const s: SessionRecord = {
      ...exampleAndroidSession(),
      limitDataSharing: true,
      globalProperties: { tier: 'gold plus' },
      installRef: {
        referrer: 'tracking_id%3D123456789&utm_source%3Dmdotm%26utm_medium%3Dbanner%26utm_campaign%3Dcampaign',
        clickTimestampSeconds: 1550420123,
        installBeginTimestampSeconds: 1550420123,
        currentDeviceTimeMs: 1550420454906,
      },
    };
    const raw = rawPairs(buildSingularSessionQuery(s, app, install));
    expect(raw.get('data_sharing_options')).toBe('%7B%22limit_data_sharing%22%3Atrue%7D');
    expect(raw.get('global_properties')).toBe('%7B%22tier%22%3A%22gold%20plus%22%7D');
    // The spec's own §1.5 example, encoded once.
    const spec =
      '{"referrer":"tracking_id%3D123456789&utm_source%3Dmdotm%26utm_medium%3Dbanner%26utm_campaign%3Dcampaign","referrer_source":"service","clickTimestampSeconds":1550420123,"installBeginTimestampSeconds":1550420123,"current_device_time":1550420454906}';
    expect(decodeURIComponent(raw.get('install_ref') ?? '')).toBe(spec);
    expect(raw.get('install_ref')).toBe(
      '%7B%22referrer%22%3A%22tracking_id%253D123456789%26utm_source%253Dmdotm%2526utm_medium%253Dbanner%2526utm_campaign%253Dcampaign%22%2C%22referrer_source%22%3A%22service%22%2C%22clickTimestampSeconds%22%3A1550420123%2C%22installBeginTimestampSeconds%22%3A1550420123%2C%22current_device_time%22%3A1550420454906%7D',
    );
  });

  it('encodes meta_ref with its §1.5 names (exact bytes)', () => {
    const s: SessionRecord = {
      ...exampleAndroidSession(),
      metaRef: { isCt: 1, installReferrer: 'fb_ref=abc', actualTimestampS: 1693978124 },
    };
    expect(rawPairs(buildSingularSessionQuery(s, app, install)).get('meta_ref')).toBe(
      '%7B%22is_ct%22%3A1%2C%22install_referrer%22%3A%22fb_ref%3Dabc%22%2C%22actual_timestamp%22%3A1693978124%7D',
    );
  });

  it("maps the Android sample's fields: n, bd, install_source, c, cn, dnt, custom_user_id; no andi beside a Play id", () => {
    const s: SessionRecord = {
      ...exampleAndroidSession(),
      appName: 'Go Go Magnet!',
      osBuild: 'Build/13D15',
      connectionType: 'wifi',
      carrier: 'Comcast',
      limitAdTracking: true,
      customUserId: 'player_id_1234',
      ids: { ...exampleAndroidSession().ids, andi: 'fc8d449516de0dfb' },
      fcmToken: 'bk3RNwTe3H0CI2k_HHwgIpoDKCIZvvDMExUdFQ3P1',
    };
    const q = buildSingularSessionQuery(s, app, install);
    const raw = rawPairs(q);
    expect(raw.get('n')).toBe('Go%20Go%20Magnet%21');
    expect(raw.get('bd')).toBe('Build%2F13D15');
    expect(decoded(q)).toMatchObject({
      p: 'Android',
      install_source: 'com.android.vending',
      c: 'wifi',
      cn: 'Comcast',
      dnt: '1',
      custom_user_id: 'player_id_1234',
      fcm: s.fcmToken,
    });
    expect(names(q)).not.toContain('andi');
    expect(names(q)).not.toContain('att_authorization_status');
    const { aifa: _a, asid: _s, ...noPlay } = s.ids;
    expect(decoded(buildSingularSessionQuery({ ...s, ids: noPlay }, app, install)).andi).toBe('fc8d449516de0dfb');
  });

  it('openuri is encoded once, with singular_link_resolve_required only beside it', () => {
    const s = { ...exampleIosSession(), openUri: 'myapp://home/page?queryparam1=value1', resolveShortLink: true };
    const q = buildSingularSessionQuery(s, app, { install: false });
    expect(rawPairs(q).get('openuri')).toBe('myapp%3A%2F%2Fhome%2Fpage%3Fqueryparam1%3Dvalue1');
    expect(decoded(q).singular_link_resolve_required).toBe('true');
  });

  it('ddl_enabled only with install=true and the app DDL on', () => {
    const s = exampleIosSession();
    expect(decoded(buildSingularSessionQuery(s, app, { install: false }))).toMatchObject({ install: 'false' });
    expect(names(buildSingularSessionQuery(s, app, { install: false }))).not.toContain('ddl_enabled');
    expect(names(buildSingularSessionQuery(s, { ...app, ddlEnabled: false }, install))).not.toContain('ddl_enabled');
    expect(names(buildSingularSessionQuery({ ...s, ddlEnabled: false }, app, install))).not.toContain('ddl_enabled');
  });

  it('never truncates receipts and forwards skan_* untouched, apns_token and n', () => {
    const receipt = `MIIT${'A'.repeat(20_000)}+/=`;
    const s: SessionRecord = {
      ...exampleIosSession(),
      installReceipt: receipt,
      appName: 'Demo',
      apnsToken: 'ab12cd34ef56ab12cd34',
      skan: { skan_conversion_value: 12, p0_coarse: 2, prev_fine_value: 11, _skerror: 0 },
    };
    const d = decoded(buildSingularSessionQuery(s, app, install));
    expect(d.install_receipt).toBe(receipt);
    expect(d).toMatchObject({ skan_conversion_value: '12', p0_coarse: '2', prev_fine_value: '11', _skerror: '0' });
    expect(d).toMatchObject({ n: 'Demo', apns_token: 'ab12cd34ef56ab12cd34' });
  });

  it('encodes every value exactly once: decoding once gives back the raw values, and no + for spaces', () => {
    const weird = "a b+c&d=e%20f/?#!'()*é";
    const s: SessionRecord = { ...exampleIosSession(), userAgent: weird, appName: weird };
    const q = buildSingularSessionQuery(s, { ...app, sdkKey: weird }, install);
    expect(decoded(q)).toMatchObject({ a: weird, ua: weird, n: weird });
    expect(q).not.toContain('+');
    expect(q).toMatch(/^[A-Za-z0-9\-_.~%=&]+$/);
  });
});

describe('Singular EVENT query', () => {
  it('maps n and e (exact bytes) and never carries session-only parameters', () => {
    const q = buildSingularEventQuery(exampleEvent(exampleAndroidSession()), app, { receivedAtMs: 1_763_800_000_500 });
    expect(rawPairs(q).get('e')).toBe('%7B%22level%22%3A%225%22%2C%22mode%22%3A%22ranked%22%7D');
    expect(decoded(q)).toMatchObject({ n: 'sng_complete_registration', umilisec: '1763800000500' });
    for (const n of ['install', 'install_ref', 'install_time', 'install_receipt', 'ddl_enabled', 'is_revenue_event', 'amt'])
      expect(names(q)).not.toContain(n);
  });

  it('marks revenue for __iap__, for an amount, or by flag; amt and cur together only', () => {
    const base = exampleEvent(exampleAndroidSession(), 'purchase');
    const flag = (e: EventRecord) => decoded(buildSingularEventQuery(e, app)).is_revenue_event;
    expect(flag(base)).toBeUndefined();
    expect(flag({ ...base, name: '__iap__' })).toBe('true');
    expect(flag({ ...base, isRevenueEvent: true })).toBe('true');
    const rev = decoded(buildSingularEventQuery(exampleRevenueEvent(exampleAndroidSession()), app));
    expect(rev).toMatchObject({
      n: '__iap__',
      is_revenue_event: 'true',
      amt: '1.99',
      cur: 'USD',
      purchase_product_id: '2000_coins',
    });
    expect(rev.purchase_transaction_id).toBe('GPA.1.99');
    expect(flag({ ...base, amount: -4.5, currency: 'EUR' })).toBe('true');
    const noCur = decoded(buildSingularEventQuery({ ...base, amount: 3 }, app));
    expect([noCur.amt, noCur.cur]).toEqual([undefined, undefined]);
  });

  it('sends purchase_receipt untouched and receipt_signature on Android only', () => {
    const receipt = '{"orderId":"GPA.3365-7705-8199-11502","purchaseToken":"x y"}';
    const android = decoded(
      buildSingularEventQuery(
        { ...exampleRevenueEvent(exampleAndroidSession()), purchaseReceipt: receipt, receiptSignature: 'c2ln' },
        app,
      ),
    );
    expect(android).toMatchObject({ purchase_receipt: receipt, receipt_signature: 'c2ln' });
    const ios = decoded(
      buildSingularEventQuery(
        { ...exampleRevenueEvent(exampleIosSession()), purchaseReceipt: receipt, receiptSignature: 'c2ln' },
        app,
      ),
    );
    expect(ios.receipt_signature).toBeUndefined();
    expect(ios.att_authorization_status).toBe('2');
  });
});
