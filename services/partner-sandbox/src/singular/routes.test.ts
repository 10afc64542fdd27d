import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTestApp, lastEntry, postJson, qs, requestLog } from '../testing.js';
import { ANDROID_SESSION, IOS_SESSION, REVENUE_EVENT, without } from './examples.js';

type Params = Record<string, string>;
const IDFV = IOS_SESSION.idfv!;

describe('Singular emulator: state, scenarios, duplicates', () => {
  let app: FastifyInstance;
  beforeEach(async () => {
    app = await buildTestApp();
  });
  afterEach(() => app.close());

  const send = async (endpoint: 'launch' | 'evt', params: Params) => {
    const r = await app.inject({ method: 'GET', url: `/singular/api/v1/${endpoint}?${qs(params)}` });
    return { body: r.json(), entry: await lastEntry(app) };
  };
  const iosEvent = (extra: Params = {}) => ({
    ...without(IOS_SESSION, 'install', 'install_time', 'update_time', 'install_receipt', 'attribution_token', 'ddl_enabled'),
    n: 'sng_complete_registration',
    ...extra,
  });

  it('files the first session as the install, then sessions, then a reinstall for a second install=true', async () => {
    expect((await send('launch', IOS_SESSION)).entry).toMatchObject({ outcome: 'install', deviceKey: IDFV.toLowerCase() });
    expect((await send('launch', { ...IOS_SESSION, install: 'false', utime: '1700000100' })).entry.outcome).toBe('session');
    expect((await send('launch', { ...IOS_SESSION, utime: '1700000200' })).entry.outcome).toBe('reinstall');
  });

  it('compares device IDs case-insensitively and keys state per app', async () => {
    await send('launch', IOS_SESSION);
    const lower = await send('launch', { ...IOS_SESSION, idfv: IDFV.toLowerCase(), install: 'false' });
    expect(lower.entry.outcome).toBe('session');
    const otherApp = await send('launch', { ...IOS_SESSION, i: 'com.example.other' });
    expect(otherApp.entry.outcome).toBe('install');
  });

  it('accepts an event before any session as ok, recorded organic / event-before-session', async () => {
    const early = await send('evt', iosEvent());
    expect(early.body).toEqual({ status: 'ok' });
    expect(early.entry).toMatchObject({ outcome: 'organic', warnings: ['event-before-session'] });
    expect((await send('launch', IOS_SESSION)).entry.outcome).toBe('install');
    expect((await send('evt', iosEvent({ utime: '1700000300' }))).entry).toMatchObject({ outcome: 'event', warnings: [] });
  });

  it('flags a byte-identical request for the same device as a duplicate, and only that', async () => {
    await send('launch', IOS_SESSION);
    expect((await send('evt', iosEvent({ umilisec: '1700000000001' }))).entry.duplicate).toBe(false);
    expect((await send('evt', iosEvent({ umilisec: '1700000000001' }))).entry.duplicate).toBe(true);
    expect((await send('evt', iosEvent({ umilisec: '1700000000002' }))).entry.duplicate).toBe(false);
    // A refused request is not counted by Singular, so it is no duplicate either.
    await send('evt', without(iosEvent(), 'n'));
    expect((await send('evt', without(iosEvent(), 'n'))).entry.duplicate).toBe(false);
    const stats = (await app.inject('/_sandbox/stats')).json();
    expect(stats.partners.singular.duplicates).toBe(1);
  });

  it('returns the deferred deep link only on install=true&ddl_enabled=true from a matching device or IP', async () => {
    await postJson(app, '/_sandbox/scenarios', {
      singular: {
        ddl: [
          {
            device: IDFV.toLowerCase(),
            deferred_deeplink: 'myapp://deferred-deeplink',
            deferred_passthrough: 'passthroughvalue',
          },
          { ip: '198.51.100.7', deferred_deeplink: 'myapp://by-ip' },
        ],
      },
    });
    const noDdlFlag = await send('launch', without(IOS_SESSION, 'ddl_enabled'));
    expect(noDdlFlag.body).toEqual({ status: 'ok' });
    const notInstall = await send('launch', { ...IOS_SESSION, install: 'false' });
    expect(notInstall.body).toEqual({ status: 'ok' });
    const install = await send('launch', IOS_SESSION);
    expect(install.body).toEqual({
      status: 'ok',
      deferred_deeplink: 'myapp://deferred-deeplink',
      deferred_passthrough: 'passthroughvalue',
    });
    const byIp = await send('launch', { ...ANDROID_SESSION, ip: '198.51.100.7' });
    expect(byIp.body).toEqual({ status: 'ok', deferred_deeplink: 'myapp://by-ip' });
    const nobody = await send('launch', ANDROID_SESSION);
    expect(nobody.body).toEqual({ status: 'ok' });
  });

  it('resolves a short link only with singular_link_resolve_required=true and a known openuri', async () => {
    const link = 'https://myapp.sng.link/A59c0/nha7';
    const resolved =
      'https://myapp.sng.link/A59c0/nha7?_dl=myapp%3A%2F%2Fdeeplink&_ddl=myapp%3A%2F%2Fdeferred-deeplink&_p=passthroughvalue';
    await postJson(app, '/_sandbox/scenarios', {
      singular: { shortLinks: [{ openuri: link, resolved_singular_link: resolved }] },
    });
    const session = { ...without(IOS_SESSION, 'ddl_enabled'), install: 'false', openuri: link };
    expect((await send('launch', session)).body).toEqual({ status: 'ok' });
    const asked = await send('launch', { ...session, singular_link_resolve_required: 'true' });
    expect(asked.body).toEqual({ status: 'ok', resolved_singular_link: resolved });
    const unknown = await send('launch', {
      ...session,
      singular_link_resolve_required: 'true',
      openuri: 'https://myapp.sng.link/zzz',
    });
    expect(unknown.body).toEqual({ status: 'ok' });
    expect(unknown.entry.warnings).toEqual(['openuri: not a known short link']);
  });

  it('adds scenario fields such as a SKAN conversion value to ok answers (S3, S17)', async () => {
    await postJson(app, '/_sandbox/scenarios', {
      singular: {
        extraFields: [
          { device: IDFV, endpoint: 'evt', event: 'level_up', fields: { conversion_value: 12, skan_updated_coarse_value: 1 } },
        ],
      },
    });
    await send('launch', IOS_SESSION);
    expect((await send('evt', iosEvent({ n: 'level_up' }))).body).toEqual({
      status: 'ok',
      conversion_value: 12,
      skan_updated_coarse_value: 1,
    });
    expect((await send('evt', iosEvent({ n: 'other' }))).body).toEqual({ status: 'ok' });
  });

  it('accepts a POST form body on the v1 paths (S4) and ignores a JSON body', async () => {
    const form = await app.inject({
      method: 'POST',
      url: '/singular/api/v1/launch',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: qs(IOS_SESSION),
    });
    expect(form.json()).toEqual({ status: 'ok' });
    const entry = await lastEntry(app);
    expect(entry).toMatchObject({ method: 'POST', outcome: 'install', query: {}, body: { idfv: IDFV } });
    const json = await postJson(app, '/singular/api/v1/evt', REVENUE_EVENT);
    expect(json.statusCode).toBe(200);
    expect(json.json()).toEqual({ status: 'error', reason: 'missing argument: a' });
  });

  it('serves /api/v2/evt only behind its flag, and there only with an sdid', async () => {
    const url = `/singular/api/v2/evt?${qs({ ...REVENUE_EVENT })}`;
    expect((await app.inject(url)).statusCode).toBe(404);
    const v2 = await buildTestApp({ SANDBOX_SINGULAR_V2_EVT: 'true' });
    try {
      expect((await v2.inject(url)).json()).toEqual({ status: 'error', reason: 'missing argument: sdid' });
      const withSdid = await v2.inject(`${url}&sdid=49c2d3a6-326e-4ec5-a16b-0a47e34ed953`);
      expect(withSdid.json()).toEqual({ status: 'ok' });
    } finally {
      await v2.close();
    }
  });

  it('logs each request with the documented fields, the SDK key included (it is a test surface)', async () => {
    await send('launch', IOS_SESSION);
    const [entry] = await requestLog(app, '?partner=singular');
    expect(entry).toMatchObject({
      partner: 'singular',
      method: 'GET',
      path: '/singular/api/v1/launch',
      query: { a: 'SDK_KEY', idfv: IDFV },
      body: null,
      receivedAt: '2025-01-15T12:00:00.000Z',
      deviceKey: IDFV.toLowerCase(),
      outcome: 'install',
      warnings: [],
      duplicate: false,
      status: 200,
      response: { status: 'ok' },
    });
  });
});
