import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, lastEntry, qs } from '../testing.js';
import { ANDROID_SESSION, IOS_SESSION, PC_SESSION, REVENUE_EVENT, without } from './examples.js';

type Params = Record<string, string>;

async function call(app: FastifyInstance, endpoint: 'launch' | 'evt', params: Params) {
  const r = await app.inject({ method: 'GET', url: `/singular/api/v1/${endpoint}?${qs(params)}` });
  const entry = await lastEntry(app);
  return { http: r.statusCode, body: r.json(), warnings: entry.warnings, outcome: entry.outcome };
}

describe('Singular rules, strict mode (the default)', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp();
  });
  afterAll(() => app.close());

  it("accepts the spec's Android session, iOS first session and revenue event without a warning", async () => {
    const android = await call(app, 'launch', ANDROID_SESSION);
    expect(android).toMatchObject({ http: 200, body: { status: 'ok' }, warnings: [] });
    const ios = await call(app, 'launch', IOS_SESSION);
    expect(ios).toMatchObject({ http: 200, body: { status: 'ok' }, warnings: [] });
    const revenue = await call(app, 'evt', REVENUE_EVENT);
    expect(revenue).toMatchObject({ http: 200, body: { status: 'ok' }, warnings: [], outcome: 'event' });
  });

  it('accepts every platform spelling of S5 and refuses any other with invalid platform', async () => {
    for (const p of [
      'pc',
      'PC',
      'xbox',
      'Xbox',
      'playstation',
      'Playstation',
      'nintendo',
      'Nintendo',
      'metaquest',
      'MetaQuest',
      'CTV',
      'Web',
    ]) {
      const params = { ...PC_SESSION, p, ...(p.toLowerCase() === 'pc' ? {} : { install_source: '' }) };
      expect((await call(app, 'launch', params)).body, p).toEqual({ status: 'ok' });
    }
    for (const p of ['android', 'ios', 'IOS', 'Windows', 'PlayStation']) {
      const r = await call(app, 'launch', { ...ANDROID_SESSION, p });
      expect(r).toMatchObject({ http: 200, body: { status: 'error', reason: `invalid platform: ${p}` } });
    }
  });

  it('answers missing argument for a, p, i and ip, with HTTP 200', async () => {
    for (const k of ['a', 'p', 'i', 'ip']) {
      const r = await call(app, 'launch', without(ANDROID_SESSION, k));
      expect(r, k).toMatchObject({ http: 200, body: { status: 'error', reason: `missing argument: ${k}` }, outcome: 'rejected' });
      const empty = await call(app, 'launch', { ...ANDROID_SESSION, [k]: '' });
      expect(empty.body, `${k} empty`).toEqual({ status: 'error', reason: `missing argument: ${k}` });
    }
  });

  it('takes country, or use_ip with country, in place of ip', async () => {
    const country = await call(app, 'launch', { ...without(ANDROID_SESSION, 'ip'), country: 'US' });
    expect(country).toMatchObject({ body: { status: 'ok' }, warnings: [] });
    const useIp = await call(app, 'launch', { ...without(ANDROID_SESSION, 'ip'), use_ip: 'true', country: 'US' });
    expect(useIp.body).toEqual({ status: 'ok' });
    expect(useIp.warnings).toEqual([expect.stringMatching(/^use_ip:/)]);
    const useIpAlone = await call(app, 'launch', { ...without(ANDROID_SESSION, 'ip'), use_ip: 'true' });
    expect(useIpAlone.body).toEqual({ status: 'error', reason: 'missing argument: country' });
  });

  it('requires n on evt only', async () => {
    expect((await call(app, 'evt', without(REVENUE_EVENT, 'n'))).body).toEqual({
      status: 'error',
      reason: 'missing argument: n',
    });
    expect((await call(app, 'launch', without(ANDROID_SESSION, 'n'))).body).toEqual({ status: 'ok' });
  });

  it('answers no device ID supplied when no ID is present, counting all-zero IDs as absent (S8)', async () => {
    const none = await call(app, 'launch', without(ANDROID_SESSION, 'aifa', 'asid'));
    expect(none.body).toEqual({ status: 'error', reason: 'no device ID supplied' });
    const zeros = await call(app, 'launch', {
      ...without(IOS_SESSION, 'idfv'),
      idfa: '00000000-0000-0000-0000-000000000000',
    });
    expect(zeros.body).toEqual({ status: 'error', reason: 'no device ID supplied' });
    expect(zeros.warnings).toContain('idfa: all-zero value treated as absent');
  });

  it('requires the IDs each platform must send (S7)', async () => {
    const ios = await call(app, 'launch', {
      ...without(IOS_SESSION, 'idfv'),
      idfa: 'DFC5A647-9043-4699-B2A5-76F03A97064B',
      att_authorization_status: '3',
    });
    expect(ios.body).toEqual({ status: 'error', reason: 'platform: iOS should have an idfv param' });
    const pc = await call(app, 'launch', { ...without(PC_SESSION, 'sdid'), aifa: '4012358e-69e6-49a8-a3f3-57b743751cb8' });
    expect(pc.body).toEqual({ status: 'error', reason: 'platform: pc should have an sdid param' });
    const play12 = await call(app, 'launch', { ...without(ANDROID_SESSION, 'asid'), ve: '12' });
    expect(play12.body).toEqual({ status: 'error', reason: 'platform: Android should have an asid param' });
    const play11 = await call(app, 'launch', { ...without(ANDROID_SESSION, 'asid'), ve: '11' });
    expect(play11.body).toEqual({ status: 'ok' });
  });

  it.each(
    (
      [
        ['launch', ANDROID_SESSION, 've'],
        ['launch', ANDROID_SESSION, 'ma'],
        ['launch', ANDROID_SESSION, 'mo'],
        ['launch', ANDROID_SESSION, 'lc'],
        ['launch', ANDROID_SESSION, 'bd'],
        ['launch', ANDROID_SESSION, 'app_v'],
        ['launch', ANDROID_SESSION, 'install'],
        ['launch', ANDROID_SESSION, 'install_time'],
        ['launch', ANDROID_SESSION, 'update_time'],
        ['launch', ANDROID_SESSION, 'install_source'],
        ['launch', ANDROID_SESSION, 'install_ref'],
        ['launch', IOS_SESSION, 'att_authorization_status'],
        ['launch', IOS_SESSION, 'install_receipt'],
        ['launch', PC_SESSION, 'os'],
        ['launch', PC_SESSION, 'install_source'],
        ['evt', REVENUE_EVENT, 've'],
        ['evt', REVENUE_EVENT, 'cur'],
        ['evt', REVENUE_EVENT, 'amt'],
      ] as const
    ).map(([endpoint, base, k]) => ({ endpoint, base, k })),
  )('$endpoint without $k: a strict gap is missing argument', async ({ endpoint, base, k }) => {
    const r = await call(app, endpoint, without(base, k));
    expect(r.body).toEqual({ status: 'error', reason: `missing argument: ${k}` });
  });

  it('requires ma and mo together on evt, and openuri when a short link must be resolved', async () => {
    expect((await call(app, 'evt', { ...REVENUE_EVENT, ma: 'samsung' })).body).toEqual({
      status: 'error',
      reason: 'missing argument: mo',
    });
    expect((await call(app, 'launch', { ...ANDROID_SESSION, singular_link_resolve_required: 'true' })).body).toEqual({
      status: 'error',
      reason: 'missing argument: openuri',
    });
  });

  it('accepts an IPv6 ip with a warning by default', async () => {
    const r = await call(app, 'launch', { ...ANDROID_SESSION, ip: '2001:db8::1' });
    expect(r).toMatchObject({ body: { status: 'ok' }, warnings: ['ip: IPv6 address (Singular recommends IPv4)'] });
  });

  it('refuses an ip that is not an address, and JSON values that do not parse', async () => {
    expect((await call(app, 'launch', { ...ANDROID_SESSION, ip: 'banana' })).body).toEqual({
      status: 'error',
      reason: 'missing argument: ip',
    });
    for (const k of ['e', 'install_ref', 'meta_ref', 'data_sharing_options', 'global_properties']) {
      const r = await call(app, 'launch', { ...ANDROID_SESSION, [k]: '{"broken":' });
      expect(r.body, k).toEqual({ status: 'error', reason: `missing argument: ${k}` });
    }
  });

  it('flags the limits of §1.9/S12 as warnings and still accepts', async () => {
    const r = await call(app, 'evt', {
      ...REVENUE_EVENT,
      n: 'x'.repeat(33),
      e: JSON.stringify({ ['k'.repeat(256)]: 'v', long: 'v'.repeat(501) }),
      global_properties: JSON.stringify({ a: '1', b: '2', c: '3', d: '4', e: '5', f: '6' }),
    });
    expect(r.body).toEqual({ status: 'ok' });
    expect(r.warnings).toEqual([
      expect.stringMatching(/^e: key longer than 255 characters/),
      'e: value of long longer than 500 characters',
      'global_properties: more than 5 pairs',
      'n: longer than 32 characters',
    ]);
  });

  it('warns when the query passes 4000 characters without receipts, not because of a receipt', async () => {
    const receipt = await call(app, 'launch', { ...IOS_SESSION, install_receipt: 'A'.repeat(20_000) });
    expect(receipt).toMatchObject({ body: { status: 'ok' }, warnings: [] });
    const long = await call(app, 'launch', { ...IOS_SESSION, custom_user_id: 'u'.repeat(4000) });
    expect(long.body).toEqual({ status: 'ok' });
    expect(long.warnings).toEqual([expect.stringMatching(/^query: \d+ characters without receipts \(limit 4000\)$/)]);
  });

  it('accepts install_ref numbers written as strings (S13) and warns on an IDFA sent without ATT consent', async () => {
    const ref = JSON.stringify({
      referrer: 'utm_source=x',
      clickTimestampSeconds: '1550420123',
      installBeginTimestampSeconds: '1550420123',
    });
    expect(await call(app, 'launch', { ...ANDROID_SESSION, install_ref: ref })).toMatchObject({
      body: { status: 'ok' },
      warnings: [],
    });
    const idfa = await call(app, 'launch', { ...IOS_SESSION, idfa: 'DFC5A647-9043-4699-B2A5-76F03A97064B' });
    expect(idfa).toMatchObject({ body: { status: 'ok' } });
    expect(idfa.warnings).toEqual(['idfa: sent although ATT is not authorized (att_authorization_status is not 3)']);
  });
});

describe('Singular rules, non-strict mode and the IPv6 flag', () => {
  let lax: FastifyInstance;
  let v6reject: FastifyInstance;
  beforeAll(async () => {
    lax = await buildTestApp({ SANDBOX_STRICT: 'false' });
    v6reject = await buildTestApp({ SANDBOX_SINGULAR_IPV6: 'reject' });
  });
  afterAll(async () => {
    await lax.close();
    await v6reject.close();
  });

  it('turns the gaps into warnings recorded in the log entry', async () => {
    const r = await call(lax, 'launch', without(ANDROID_SESSION, 've', 'lc'));
    expect(r).toMatchObject({ body: { status: 'ok' }, warnings: ['missing argument: ve', 'missing argument: lc'] });
    const ios = await call(lax, 'launch', { ...without(IOS_SESSION, 'idfv'), sdid: '49c2d3a6-326e-4ec5-a16b-0a47e34ed953' });
    expect(ios).toMatchObject({ body: { status: 'ok' }, warnings: ['platform: iOS should have an idfv param'] });
    const json = await call(lax, 'evt', { ...REVENUE_EVENT, e: 'not json' });
    expect(json).toMatchObject({ body: { status: 'ok' }, warnings: ['e: not valid JSON'] });
  });

  it('still refuses the hard errors', async () => {
    expect((await call(lax, 'launch', without(ANDROID_SESSION, 'a'))).body).toEqual({
      status: 'error',
      reason: 'missing argument: a',
    });
    expect((await call(lax, 'launch', without(ANDROID_SESSION, 'aifa', 'asid'))).body).toEqual({
      status: 'error',
      reason: 'no device ID supplied',
    });
  });

  it('refuses an IPv6 ip as missing argument: ip when SANDBOX_SINGULAR_IPV6=reject', async () => {
    const r = await call(v6reject, 'launch', { ...ANDROID_SESSION, ip: '2001:db8::1' });
    expect(r.body).toEqual({ status: 'error', reason: 'missing argument: ip' });
    expect((await call(v6reject, 'launch', ANDROID_SESSION)).body).toEqual({ status: 'ok' });
  });
});
