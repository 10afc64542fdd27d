import { describe, expect, it } from 'vitest';
import { exampleAndroidSession, exampleEvent, exampleIosSession, exampleRevenueEvent } from './examples.js';
import { EventRecord, fieldErrors, SessionRecord } from './records.js';

function errorsOf(schema: typeof SessionRecord | typeof EventRecord, value: unknown) {
  const r = schema.safeParse(value);
  return r.success ? [] : fieldErrors(r.error);
}

describe('canonical records', () => {
  it('accepts the example iOS and Android sessions and events', () => {
    const ios = exampleIosSession();
    const android = exampleAndroidSession();
    expect(errorsOf(SessionRecord, ios)).toEqual([]);
    expect(errorsOf(SessionRecord, android)).toEqual([]);
    expect(errorsOf(EventRecord, exampleEvent(ios))).toEqual([]);
    expect(errorsOf(EventRecord, exampleRevenueEvent(android))).toEqual([]);
  });

  it('requires idfv and the ATT status on iOS, and refuses idfa unless ATT is authorized', () => {
    const s = exampleIosSession();
    const errs = errorsOf(SessionRecord, { ...s, ids: { idfa: 'DFC5A647-9043-4699-B2A5-76F03A97064B' }, attStatus: undefined });
    expect(errs).toContainEqual({ field: 'ids.idfv', message: 'is required on iOS' });
    expect(errs.map((e) => e.field)).toContain('attStatus');
    expect(errs).toContainEqual({ field: 'ids.idfa', message: 'must be omitted unless attStatus is 3 (authorized)' });
    expect(
      errorsOf(SessionRecord, { ...s, attStatus: 3, ids: { ...s.ids, idfa: 'DFC5A647-9043-4699-B2A5-76F03A97064B' } }),
    ).toEqual([]);
  });

  it('rejects all-zero identifiers', () => {
    const s = exampleIosSession();
    const errs = errorsOf(SessionRecord, { ...s, attStatus: 3, ids: { ...s.ids, idfa: '00000000-0000-0000-0000-000000000000' } });
    expect(errs).toContainEqual({ field: 'ids.idfa', message: 'is all zeros: omit an identifier the OS did not give' });
  });

  it('applies the Android identifier rules (some Play id needed; andi never with aifa/asid)', () => {
    const s = exampleAndroidSession();
    expect(errorsOf(SessionRecord, { ...s, ids: {} }).map((e) => e.field)).toContain('ids');
    expect(errorsOf(SessionRecord, { ...s, ids: { ...s.ids, andi: 'fc8d449516de0dfb' } })).toContainEqual({
      field: 'ids.andi',
      message: 'must not be sent with aifa or asid (Google Play policy)',
    });
    expect(errorsOf(SessionRecord, { ...s, ids: { andi: 'fc8d449516de0dfb' }, installSource: 'com.huawei.appmarket' })).toEqual(
      [],
    );
  });

  it('needs an IPv4, or an IPv6 with a country', () => {
    const s = exampleAndroidSession();
    const { ip: _ip, ...noIp } = s;
    expect(errorsOf(SessionRecord, noIp).map((e) => e.field)).toContain('ip');
    expect(errorsOf(SessionRecord, { ...noIp, ipv6: '2001:db8::1' }).map((e) => e.field)).toEqual(['country']);
    expect(errorsOf(SessionRecord, { ...noIp, ipv6: '2001:db8::1', country: 'US' })).toEqual([]);
    expect(errorsOf(SessionRecord, { ...s, ip: '2001:db8::1' })).toContainEqual({
      field: 'ip',
      message: 'must be a dotted IPv4 address',
    });
  });

  it('enforces the session rows Singular requires on mobile', () => {
    const s = exampleAndroidSession();
    const { make: _m, locale: _l, installSource: _i, installRef: _r, ...rest } = s;
    const fields = errorsOf(SessionRecord, rest).map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['make', 'locale', 'installSource']));
    expect(errorsOf(SessionRecord, { ...s, installRef: undefined }).map((e) => e.field)).toContain('installRef');
    const ios = exampleIosSession();
    expect(errorsOf(SessionRecord, { ...ios, installReceipt: undefined }).map((e) => e.field)).toContain('installReceipt');
    expect(errorsOf(SessionRecord, { ...ios, locale: 'en-US' })).toContainEqual({
      field: 'locale',
      message: 'must be ll_CC, e.g. en_US',
    });
  });

  it('limits event names and attributes as Singular does', () => {
    const e = exampleEvent(exampleIosSession());
    expect(errorsOf(EventRecord, { ...e, name: 'x'.repeat(33) })).toContainEqual({
      field: 'name',
      message: 'must be at most 32 characters',
    });
    expect(errorsOf(EventRecord, { ...e, name: 'naïve' })).toContainEqual({ field: 'name', message: 'must be printable ASCII' });
    expect(errorsOf(EventRecord, { ...e, attributes: { k: 'v'.repeat(501) } }).map((x) => x.field)).toEqual(['attributes.k']);
  });

  it('needs amount and an ISO 4217 currency together', () => {
    const e = exampleRevenueEvent(exampleAndroidSession());
    expect(errorsOf(EventRecord, { ...e, currency: undefined })).toContainEqual({
      field: 'currency',
      message: 'amount and currency go together (never make up a currency)',
    });
    expect(errorsOf(EventRecord, { ...e, currency: 'usd' }).map((x) => x.field)).toEqual(['currency']);
    expect(errorsOf(EventRecord, { ...e, currency: 'XYZ' })).toContainEqual({
      field: 'currency',
      message: 'is not an ISO 4217 currency',
    });
    expect(errorsOf(EventRecord, { ...e, amount: -1.99 })).toEqual([]);
  });

  it('names unknown fields instead of dropping them', () => {
    const errs = errorsOf(EventRecord, { ...exampleEvent(exampleIosSession()), color: 'red' });
    expect(errs).toEqual([{ field: '(body)', message: 'unknown field(s): color' }]);
  });

  it('lists the cross-field failures together with the shape failures, in one answer', () => {
    const s = exampleIosSession();
    const errs = errorsOf(SessionRecord, { ...s, osVersion: 17, ids: {}, attStatus: undefined, make: undefined });
    expect(errs.map((e) => e.field)).toEqual(expect.arrayContaining(['osVersion', 'ids.idfv', 'attStatus', 'make']));
    // No identifier rules for a platform that is not one: only the platform is named.
    const odd = errorsOf(EventRecord, { ...exampleEvent(s), platform: 'Windows' });
    expect(odd.map((e) => e.field)).toEqual(['platform']);
    expect(errorsOf(EventRecord, 'not an object').map((e) => e.field)).toEqual(['(body)']);
  });

  it('bounds revenue amounts', () => {
    const e = exampleRevenueEvent(exampleAndroidSession());
    expect(errorsOf(EventRecord, { ...e, amount: 1.5e300 })).toEqual([
      { field: 'amount', message: 'must be at most 1,000,000,000' },
    ]);
  });
});
