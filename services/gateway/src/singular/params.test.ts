import { EventRecord, exampleAndroidSession, exampleUuid, SessionRecord } from '@s2s/contracts';
import { describe, expect, it } from 'vitest';
import { fromSingularQuery } from './params.js';

const android = {
  p: 'Android',
  i: 'com.example.app',
  ip: '198.51.100.7',
  ve: '14',
  ma: 'samsung',
  mo: 'SM-G935F',
  lc: 'en_US',
  bd: 'UP1A.231005.007',
  app_v: '1.2.3',
  aifa: exampleUuid(7, 2),
  asid: exampleUuid(7, 3),
  install: 'true',
  install_time: '1763800000',
  update_time: '1763800000',
  install_source: 'com.android.vending',
  install_ref: JSON.stringify({
    referrer: 'utm_source=google',
    referrer_source: 'service',
    clickTimestampSeconds: '1763799000',
    installBeginTimestampSeconds: 1763799500,
    current_device_time: 1763800000123,
  }),
  ddl_enabled: 'true',
  data_sharing_options: '{"limit_data_sharing":false}',
  utime: '1763800001',
  skan_conversion_value: '3',
};

describe("Singular's query parameters → canonical record", () => {
  it('maps a full Android SESSION to a valid canonical session', () => {
    const m = fromSingularQuery('session', android, 'demo');
    expect(m.errors).toEqual([]);
    const parsed = SessionRecord.safeParse(m.candidate);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(m.candidate).toMatchObject({
      appId: 'demo',
      platform: 'Android',
      ids: { aifa: android.aifa, asid: android.asid },
      install: true,
      installTimeS: 1763800000,
      installRef: { referrer: 'utm_source=google', clickTimestampSeconds: 1763799000, currentDeviceTimeMs: 1763800000123 },
      limitDataSharing: false,
      timestampMs: 1763800001000,
      skan: { skan_conversion_value: 3 },
    });
    const s = exampleAndroidSession(7, 'demo');
    expect(m.candidate.ids).toEqual(s.ids);
  });

  it('maps an EVENT with e, amt and cur', () => {
    const {
      install: _i,
      install_time: _t,
      update_time: _u,
      install_source: _s,
      install_ref: _r,
      ddl_enabled: _d,
      ...common
    } = android;
    const m = fromSingularQuery('event', { ...common, n: '__iap__', e: '{"level":"5"}', amt: '1.99', cur: 'USD' }, 'demo');
    expect(m.errors).toEqual([]);
    expect(EventRecord.safeParse(m.candidate).success).toBe(true);
    expect(m.candidate).toMatchObject({ name: '__iap__', attributes: { level: '5' }, amount: 1.99, currency: 'USD' });
  });

  it("reports conversion problems, refused and unknown parameters under Singular's names", () => {
    const m = fromSingularQuery(
      'session',
      { ...android, install: 'yes', install_time: 'soon', use_ip: 'true', sdid: 'x', foo: '1', n: ['a', 'b'], e: '{}' },
      'demo',
    );
    const byField = Object.fromEntries(m.errors.map((e) => [e.field, e.message]));
    expect(byField).toMatchObject({
      install: 'must be true or false',
      install_time: 'must be an integer',
      use_ip: expect.stringContaining('send ip'),
      sdid: expect.stringContaining('PC/console'),
      foo: 'is not a parameter the relay knows',
      n: 'must appear once',
      e: 'is an event parameter (/api/v1/evt)',
    });
  });

  it('names schema errors by parameter', () => {
    const m = fromSingularQuery('session', { ...android, lc: 'en-US' }, 'demo');
    const parsed = SessionRecord.safeParse(m.candidate);
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    const fields = parsed.error.issues.map((i) => m.paramOf(i.path.join('.')));
    expect(fields).toContain('lc');
    expect(m.paramOf('ids.idfv')).toBe('idfv');
    expect(m.paramOf('installRef.currentDeviceTimeMs')).toBe('install_ref.current_device_time');
    expect(m.paramOf('timestampMs')).toBe('utime');
    expect(m.paramOf('attributes.level')).toBe('e.level');
  });
});
