/**
 * Realistic example records, valid against the schemas: the README's curl examples, tests and
 * benchmarks start from these. `n` varies the device so callers can make many distinct devices.
 */
import type { EventRecord, SessionRecord } from './records.js';

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0').slice(-width);
/** A deterministic UUID for device number `n` and a namespace digit. */
export function exampleUuid(n: number, ns = 1, upper = false): string {
  const u = `${hex(ns, 8)}-${hex(n >>> 16, 4)}-4${hex(n & 0xfff, 3)}-8${hex(n % 4096, 3)}-${hex(n, 12)}`;
  return upper ? u.toUpperCase() : u;
}

export function exampleIosSession(n = 1, appId = 'demo'): SessionRecord {
  return {
    appId,
    platform: 'iOS',
    bundleId: 'com.example.app',
    storeId: '577586159',
    appVersion: '1.2.3',
    osVersion: '17.2',
    osBuild: '21C62',
    make: 'Apple',
    model: 'iPhone15,2',
    locale: 'en_US',
    ip: `203.0.${(n >> 8) & 255}.${n & 255}`,
    userAgent: 'ExampleApp/1.2.3 CFNetwork/1490.0.4 Darwin/23.2.0',
    ids: { idfv: exampleUuid(n, 1, true) },
    attStatus: 2,
    install: true,
    installTimeS: 1_763_800_000,
    updateTimeS: 1_763_800_000,
    installReceipt: 'MIIT8QYJKoZIhvcNAQcCoIIT4jCCE94CAQExCzAJBgUrDgMCGgUAMIIDkgYJKoZIhvcNAQcBoIIDgwSCA38xggN7',
    attributionToken: 'ewogICJhdHRyaWJ1dGlvbiI6IHRydWUKfQ',
    ddlEnabled: true,
    limitDataSharing: false,
    onside: { token: `onside-token-${n}`, availableCapacity: 21_489_729_783 },
  };
}

export function exampleAndroidSession(n = 1, appId = 'demo'): SessionRecord {
  return {
    appId,
    platform: 'Android',
    bundleId: 'com.example.app',
    appVersion: '1.2.3',
    osVersion: '14',
    osBuild: 'UP1A.231005.007',
    make: 'samsung',
    model: 'SM-G935F',
    locale: 'en_US',
    ip: `198.51.${(n >> 8) & 255}.${n & 255}`,
    ids: { aifa: exampleUuid(n, 2), asid: exampleUuid(n, 3) },
    install: true,
    installTimeS: 1_763_800_000,
    updateTimeS: 1_763_800_000,
    installSource: 'com.android.vending',
    installRef: {
      referrer: 'utm_source=google&utm_medium=cpc&utm_campaign=launch',
      clickTimestampSeconds: 1_763_799_000,
      installBeginTimestampSeconds: 1_763_799_500,
      currentDeviceTimeMs: 1_763_800_000_123,
    },
    ddlEnabled: true,
    limitDataSharing: false,
  };
}

export function exampleEvent(session: SessionRecord, name = 'sng_complete_registration'): EventRecord {
  const { appId, platform, bundleId, appVersion, osVersion, ip, ids, attStatus, installId } = session;
  const e: EventRecord = { appId, platform, bundleId, osVersion, ids, name, attributes: { level: '5', mode: 'ranked' } };
  if (appVersion) e.appVersion = appVersion;
  if (ip) e.ip = ip;
  if (attStatus !== undefined) e.attStatus = attStatus;
  if (installId) e.installId = installId;
  return e;
}

export function exampleRevenueEvent(session: SessionRecord, amount = 1.99, currency = 'USD'): EventRecord {
  return {
    ...exampleEvent(session, '__iap__'),
    attributes: {},
    amount,
    currency,
    productId: '2000_coins',
    transactionId: `GPA.${amount}`,
  };
}
