import { deviceKey, exampleAndroidSession, exampleIosSession, exampleUuid } from '@s2s/contracts';
import { createAppSettings, createDeviceGraph, createPostbacksRepo } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../test/harness.js';

describe('POST /v1/postbacks/singular/{app}', () => {
  let gw: TestGateway;
  let secret: string;
  beforeAll(async () => {
    gw = await startTestGateway({ app: { mode: 'hybrid' } });
    secret = (await createAppSettings(gw.schema.pool).rotatePostbackSecret(gw.appId)) as string;
  });
  afterAll(async () => gw?.close());

  const send = (body: unknown, query = `?key=${secret}`, app = gw.appId) =>
    gw.app.inject({ method: 'POST', url: `/v1/postbacks/singular/${app}${query}`, payload: body as object });
  const snapshot = async () => {
    const tables = ['devices', 'device_identifiers', 'device_identifier_changes', 'device_attribution', 'postbacks'];
    return Promise.all(tables.map(async (t) => (await gw.schema.pool.query(`SELECT * FROM ${t} ORDER BY 1, 2, 3`)).rows));
  };

  it("puts an install's identifiers and attribution on the device the app's own records use; the same postback twice changes nothing", async () => {
    const record = exampleIosSession(11, gw.appId);
    const idfa = exampleUuid(11, 5, true);
    const body = {
      postback_id: 'pb-11',
      event_type: 'install',
      event_time: 1_763_800_000,
      platform: 'iOS',
      bundle_id: record.bundleId,
      idfv: record.ids.idfv,
      idfa,
      custom_user_id: 'user-11',
      network: 'Acme Ads',
      campaign_name: 'Spring',
      campaign_id: 42,
      is_viewthrough: 0,
      some_field_singular_added: { nested: true },
    };
    const first = await send(body);
    expect(first.statusCode).toBe(200);
    const key = deviceKey(record);
    expect(first.json()).toEqual({ status: 'ok', duplicate: false, deviceKey: key });

    const graph = createDeviceGraph(gw.schema.pool);
    expect((await graph.identifiers(gw.appId, key as string)).map((i) => [i.kind, i.value])).toEqual([
      ['custom_user_id', 'user-11'],
      ['idfa', idfa],
      ['idfv', record.ids.idfv],
    ]);
    expect(await createPostbacksRepo(gw.schema.pool).attribution(gw.appId, key as string)).toEqual([
      {
        touch: 'install',
        attribution: { network: 'Acme Ads', campaignName: 'Spring', campaignId: 42, viewThrough: false },
        attributedAt: new Date(1_763_800_000_000),
      },
    ]);
    const device = await graph.get(gw.appId, key as string);
    expect(device?.sessionForwardedAt).toBeInstanceOf(Date);
    expect(Object.keys(device?.installs ?? {})).toEqual(['singular']);

    const before = await snapshot();
    const again = await send(body);
    expect(again.json()).toEqual({ status: 'ok', duplicate: true, deviceKey: key });
    expect(await snapshot()).toEqual(before);
    // Without a postback_id the body is the key (key order ignored).
    const { postback_id: _id, ...noId } = body;
    expect((await send(noId)).json().duplicate).toBe(false);
    expect((await send(Object.fromEntries(Object.entries(noId).reverse()))).json().duplicate).toBe(true);
  });

  it('links an identifier change reported by a postback to the same device', async () => {
    const record = exampleAndroidSession(12, gw.appId);
    const base = { event_type: 'event', event_name: 'purchase', platform: 'Android', asid: record.ids.asid };
    const a = await send({ ...base, postback_id: 'pb-12a', aifa: exampleUuid(12, 6) });
    const b = await send({ ...base, postback_id: 'pb-12b', aifa: exampleUuid(12, 7) });
    expect(b.json().deviceKey).toBe(a.json().deviceKey);
    expect(a.json().deviceKey).toBe(deviceKey(record));
    const changes = await createDeviceGraph(gw.schema.pool).identifierChanges(gw.appId, a.json().deviceKey);
    expect(changes.map((c) => [c.kind, c.oldValue, c.newValue])).toEqual([['aifa', exampleUuid(12, 6), exampleUuid(12, 7)]]);
  });

  it('refuses a missing or wrong secret, an unknown app, with one answer', async () => {
    const body = { event_type: 'install', platform: 'iOS', idfv: exampleUuid(13) };
    for (const r of [
      await send(body, ''),
      await send(body, '?key=pbs_wrong'),
      await send(body, `?key=${secret}`, 'no-such-app'),
    ]) {
      expect(r.statusCode).toBe(401);
      expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(r.json().code).toBe('POSTBACK_SECRET_INVALID');
    }
    const header = await gw.app.inject({
      method: 'POST',
      url: `/v1/postbacks/singular/${gw.appId}`,
      headers: { 'x-postback-secret': secret },
      payload: body,
    });
    expect(header.statusCode).toBe(200);
    // The secret in the URL never reaches the log.
    expect(gw.logs.join('\n')).not.toContain(secret);
  });

  it('answers 400 problem+json listing every failing field', async () => {
    const r = await send({
      event_type: 'click',
      platform: 'iOS',
      idfa: 'not-a-uuid',
      aifa: exampleUuid(14),
      event_time: 'yesterday',
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().code).toBe('VALIDATION_FAILED');
    expect(
      r
        .json()
        .errors.map((e: { field: string }) => e.field)
        .sort(),
    ).toEqual(['aifa', 'event_time', 'event_type', 'idfa', 'idfv'].sort());
    const android = await send({ event_type: 'event', platform: 'Android', aifa: '00000000-0000-0000-0000-000000000000' });
    expect(android.json().errors.map((e: { field: string }) => e.field)).toEqual(['event_name', 'asid']);
  });
});
