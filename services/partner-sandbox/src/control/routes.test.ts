import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ANDROID_SESSION, IOS_SESSION } from '../singular/examples.js';
import { buildTestApp, postJson, qs, requestLog } from '../testing.js';

describe('control plane', () => {
  let app: FastifyInstance;
  beforeEach(async () => {
    app = await buildTestApp();
  });
  afterEach(() => app.close());

  const launch = (params: Record<string, string>) => app.inject(`/singular/api/v1/launch?${qs(params)}`);

  it('answers /healthz', async () => {
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'ok' });
  });

  it('adds scenarios, lists them, and clears them per partner or all', async () => {
    const added = await postJson(app, '/_sandbox/scenarios', {
      singular: { ddl: [{ ip: '1.2.3.4', deferred_deeplink: 'x://y' }] },
      oath: { claims: [{ mi: 'm' }] },
      onside: { storeSessions: [{ ip: '1.2.3.4', user: 'u' }] },
    });
    expect(added.statusCode).toBe(201);
    expect(added.json()).toMatchObject({
      singular: { ddl: [{ ip: '1.2.3.4' }], shortLinks: [], extraFields: [] },
      oath: { claims: [{ mi: 'm', claims: [{}] }] },
      onside: { storeSessions: [{ ip: '1.2.3.4', user: 'u', device: {}, time: '2025-01-15T12:00:00.000Z' }] },
    });
    await app.inject({ method: 'DELETE', url: '/_sandbox/scenarios?partner=oath' });
    const after = (await app.inject('/_sandbox/scenarios')).json();
    expect([after.singular.ddl.length, after.oath.claims.length, after.onside.storeSessions.length]).toEqual([1, 0, 1]);
    expect((await app.inject({ method: 'DELETE', url: '/_sandbox/scenarios' })).statusCode).toBe(204);
    const none = (await app.inject('/_sandbox/scenarios')).json();
    expect([none.singular.ddl.length, none.onside.storeSessions.length]).toEqual([0, 0]);
  });

  it('refuses malformed scenarios with 400 problem JSON naming every failing field', async () => {
    const r = await postJson(app, '/_sandbox/scenarios', {
      singular: { ddl: [{ deferred_deeplink: 'x://y' }], extraFields: [{ fields: { status: 'x' } }] },
      oath: { claims: [{ mi: 'm', claims: [{ event_type: 'click' }] }] },
      onside: { storeSessions: [{ user: 'u', time: 'yesterday' }] },
      other: {},
    });
    expect(r.statusCode).toBe(400);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json().errors.map((e: { field: string }) => e.field)).toEqual([
      'singular.ddl.0.device',
      'singular.extraFields.0.fields',
      'oath.claims.0.claims.0.event_type',
      'onside.storeSessions.0.ip',
      'onside.storeSessions.0.time',
      '(root)',
    ]);
    expect((await app.inject('/_sandbox/scenarios')).json().singular.ddl).toEqual([]);
    const notJson = await app.inject({
      method: 'POST',
      url: '/_sandbox/scenarios',
      payload: '{',
      headers: { 'content-type': 'application/json' },
    });
    expect([notJson.statusCode, notJson.json().status]).toEqual([400, 400]);
  });

  it('serves the request log oldest first, filtered by partner, by any device ID, after a seq, and limited', async () => {
    await launch(ANDROID_SESSION);
    await launch(IOS_SESSION);
    await app.inject('/onside/.well-known/jwks.json');
    const all = await requestLog(app);
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(all.map((e) => e.partner)).toEqual(['singular', 'singular', 'onside']);
    expect((await requestLog(app, '?partner=onside')).map((e) => e.seq)).toEqual([3]);
    // The Android session is filed under its aifa; its asid finds it too, in any case.
    expect((await requestLog(app, `?device=${ANDROID_SESSION.asid!.toUpperCase()}`)).map((e) => e.seq)).toEqual([1]);
    expect((await requestLog(app, `?device=${IOS_SESSION.idfv}`)).map((e) => e.seq)).toEqual([2]);
    expect((await requestLog(app, '?since=1&limit=1')).map((e) => e.seq)).toEqual([2]);
    const bad = await app.inject('/_sandbox/requests?partner=adjust&since=-1');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors.map((e: { field: string }) => e.field)).toEqual(['partner', 'since']);
  });

  it('clears the request log on DELETE, and forgets everything but the keys on reset', async () => {
    await launch(IOS_SESSION);
    expect((await app.inject({ method: 'DELETE', url: '/_sandbox/requests' })).statusCode).toBe(204);
    expect(await requestLog(app)).toEqual([]);
    // The device is still known: the log was cleared, not the state.
    await launch({ ...IOS_SESSION, install: 'false' });
    expect((await requestLog(app)).map((e) => [e.seq, e.outcome])).toEqual([[2, 'session']]);

    await postJson(app, '/_sandbox/faults', { partner: 'oath', kind: 'error' });
    await postJson(app, '/_sandbox/onside/forge', { mode: 'expired' });
    expect((await app.inject({ method: 'POST', url: '/_sandbox/reset' })).statusCode).toBe(204);
    await launch({ ...IOS_SESSION, install: 'false' });
    expect((await requestLog(app)).map((e) => e.outcome)).toEqual(['install']);
    expect((await app.inject('/_sandbox/faults')).json().faults).toEqual([]);
    expect((await app.inject('/_sandbox/onside/forge')).json().forges).toEqual([]);
  });

  it('counts requests, duplicates and outcomes per partner in /_sandbox/stats', async () => {
    await launch(IOS_SESSION);
    await launch(IOS_SESSION);
    await launch({ ...IOS_SESSION, a: '' });
    const stats = (await app.inject('/_sandbox/stats')).json();
    expect(stats).toMatchObject({
      logSize: 3,
      singularDevices: 1,
      partners: {
        singular: { requests: 3, duplicates: 1, outcomes: { install: 1, reinstall: 1, rejected: 1 } },
        oath: { requests: 0, duplicates: 0 },
      },
    });
  });
});
