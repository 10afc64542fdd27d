/**
 * The spec's own example requests (§1.10), placeholders filled in, for the tests: a sandbox that
 * refuses one of these is wrong, whatever its other merits.
 */

export const INSTALL_REF = JSON.stringify({
  referrer: 'tracking_id%3D123456789&utm_source%3Dmdotm%26utm_medium%3Dbanner%26utm_campaign%3Dcampaign',
  referrer_source: 'service',
  clickTimestampSeconds: 1550420123,
  installBeginTimestampSeconds: 1550420123,
  current_device_time: 1550420454906,
});

/** §1.10 "Android session (values from Singular's sample request)". */
export const ANDROID_SESSION: Record<string, string> = {
  a: 'SDK_KEY',
  p: 'Android',
  i: 'com.singular.app',
  ip: '10.1.2.3',
  ve: '9.2',
  ma: 'samsung',
  mo: 'SM-G935F',
  lc: 'en_US',
  aifa: '4012358e-69e6-49a8-a3f3-57b743751cb8',
  asid: '6f8375c3-a326-b31f-e19a-d691af54012b',
  utime: '1483228800',
  dnt: '1',
  install: 'true',
  n: 'Go Go Magnet!',
  c: 'wifi',
  cn: 'Comcast',
  bd: 'Build/13D15',
  app_v: '1.2.3',
  install_source: 'com.android.vending',
  install_time: '1510040127',
  update_time: '1510090877',
  custom_user_id: 'player_id_1234',
  install_ref: INSTALL_REF,
  ddl_enabled: 'true',
};

/** §1.10 "iOS first session" (ATT denied, so no idfa). */
export const IOS_SESSION: Record<string, string> = {
  a: 'SDK_KEY',
  p: 'iOS',
  i: 'com.example.app',
  ip: '172.58.29.235',
  ve: '17.2',
  ma: 'Apple',
  mo: 'iPhone15,2',
  lc: 'en_US',
  bd: '21C62',
  app_v: '2.0.1',
  idfv: '21DB6612-09B3-4ECC-84AC-B353B0AF1334',
  att_authorization_status: '2',
  install: 'true',
  install_time: '1700000000',
  update_time: '1700000000',
  install_receipt:
    'MIIT0AYJKoZIhvcNAQcCoIITwTCCE70CAQExCzAJBgUrDgMCGgUAMIIDcQYJKoZIhvcNAQcBoIIDYgSCA14xggNaMAoCAQgCAQEEAhYAMAoCARQCAQEEAgwA',
  attribution_token: 'abc/DEF+ghi==',
  ddl_enabled: 'true',
};

/** §1.10 "Revenue event". */
export const REVENUE_EVENT: Record<string, string> = {
  a: 'SDK_KEY',
  p: 'Android',
  i: 'com.singular.app',
  ip: '10.1.2.3',
  ve: '14',
  aifa: '4012358e-69e6-49a8-a3f3-57b743751cb8',
  asid: '6f8375c3-a326-b31f-e19a-d691af54012b',
  n: '__iap__',
  amt: '1.99',
  cur: 'USD',
  purchase_receipt: JSON.stringify({ orderId: 'GPA.3365-7705-8199-11502', productId: '2000_coins' }),
  receipt_signature: 'c2lnbmF0dXJl',
  umilisec: '1700000000123',
};

/** A PC session (§1.2 PC/console rows): sdid, os, install_source, av. */
export const PC_SESSION: Record<string, string> = {
  a: 'SDK_KEY',
  p: 'pc',
  i: 'com.example.game',
  ip: '203.0.113.9',
  sdid: '49c2d3a6-326e-4ec5-a16b-0a47e34ed953',
  os: 'windows',
  install_source: 'steam',
  av: '1.1.5.581823a',
  install: 'true',
};

export function without(params: Record<string, string>, ...keys: string[]): Record<string, string> {
  const out = { ...params };
  for (const k of keys) delete out[k];
  return out;
}
