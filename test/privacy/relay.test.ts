/**
 * Issue 7 end to end, against the real gateway, worker, sandbox, Kafka and Postgres:
 * SKAN conversion values relayed as Singular gave them, consent shown on a record, and erasure.
 */
import {
  deviceKey,
  encodeIngest,
  exampleEvent,
  exampleIosSession,
  exampleUuid,
  INGEST_SCHEMA_FINGERPRINT,
  type SessionRecord,
} from '@s2s/contracts';
import { createAppSettings, createParking, createPrivacyRepo } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../worker/support.js';
import { ADMIN_KEY, findInClear, type System, startSystem } from './support.js';

describe('privacy and replies, end to end', () => {
  let sys: System;
  beforeAll(async () => {
    sys = await startSystem();
  });
  afterAll(async () => sys?.close());

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    sys.gw.app.inject({ method: 'POST', url, payload: payload as object, headers: { 'x-api-key': sys.gw.apiKey, ...headers } });
  const get = (url: string) => sys.gw.app.inject({ method: 'GET', url, headers: { 'x-api-key': sys.gw.apiKey } });

  it("relays Singular's SKAN conversion value in the Prefer: wait answer and in GET /v1/requests/{id}", async () => {
    const scenario = await sys.h.sandbox.app.inject({
      method: 'POST',
      url: '/_sandbox/scenarios',
      payload: { singular: { extraFields: [{ endpoint: 'launch', fields: { conversion_value: 12 } }] } },
    });
    expect(scenario.statusCode).toBe(201);
    const session = exampleIosSession(901, sys.gw.appId);
    const res = await post('/v1/sessions', session, { prefer: 'wait=30' });
    expect(res.statusCode).toBe(200);
    const answer = res.json().replies.singular.answer;
    // SingularAnswer.extra carries Singular's values as JSON text: the client parses 12 back.
    expect(answer.extra).toEqual({ conversion_value: '12' });
    expect(JSON.parse(answer.extra.conversion_value)).toBe(12);
    const later = await get(`/v1/requests/${res.json().requestId}`);
    expect(later.json().replies.singular.answer.extra).toEqual({ conversion_value: '12' });
  });

  it('shows a device that refused sharing on its records (consent with its time)', async () => {
    const session = { ...exampleIosSession(902, sys.gw.appId), limitDataSharing: true, timestampMs: 1_763_900_000_000 };
    // Prefer: wait answers once the worker has taken the record in; its intake records the choice.
    const res = await post('/v1/sessions', session, { prefer: 'wait=30' });
    expect(res.statusCode).toBe(200);
    const consent = { limitDataSharing: true, at: new Date(session.timestampMs).toISOString() };
    expect((await get(`/v1/requests/${res.json().requestId}`)).json().consent).toEqual(consent);
    // The choice is the device's: a later record that does not restate it shows it too.
    const event = await post('/v1/events', exampleEvent(session), { prefer: 'wait=30' });
    expect(event.statusCode).toBe(200);
    expect((await get(`/v1/requests/${event.json().requestId}`)).json().consent).toEqual(consent);
  });

  describe('erasure', () => {
    const n = 903;
    let session: SessionRecord;
    let key: string;
    let identifiers: string[];
    beforeAll(async () => {
      session = { ...exampleIosSession(n, sys.gw.appId), customUserId: `user-${exampleUuid(n, 7)}` };
      // Oath claims the install (its answer carries the device's IP), Onside answers with attribution.
      await sys.h.sandbox.app.inject({
        method: 'POST',
        url: '/_sandbox/scenarios',
        payload: { oath: { claims: [{ ip: session.ip }] }, onside: { storeSessions: [{ ip: session.ip, user: 'u' }] } },
      });
      const s = await post('/v1/sessions', session, { prefer: 'wait=30' });
      expect(s.statusCode).toBe(200);
      key = deviceKey(session) as string;
      // An event whose eventId (the idempotency key) contains the IDFV: it must not survive in clear.
      const e = await post(
        '/v1/events',
        { ...exampleEvent(session), eventId: `purchase-${session.ids.idfv}` },
        { prefer: 'wait=30' },
      );
      expect(e.statusCode).toBe(200);
      expect(e.json().replies.singular.outcome).toBe('forwarded');
      // A postback with the IDFA and attribution; a parked record (original Avro bytes).
      const secret = await createAppSettings(sys.h.db.pool).rotatePostbackSecret(sys.gw.appId);
      const idfa = exampleUuid(n, 9, true);
      const pb = await sys.gw.app.inject({
        method: 'POST',
        url: `/v1/postbacks/singular/${sys.gw.appId}?key=${secret}`,
        payload: {
          event_type: 'install',
          platform: 'ios',
          idfv: session.ids.idfv,
          idfa,
          network: 'Acme Ads',
          campaign_name: 'c1',
        },
      });
      expect(pb.json()).toEqual({ status: 'ok', duplicate: false, deviceKey: key });
      const parkedMsg = ingest(exampleEvent(session, 'later'));
      await createParking(sys.h.db.pool).park({
        appId: sys.gw.appId,
        deviceKey: key,
        partner: 'singular',
        partition: 0,
        requestId: parkedMsg.requestId,
        idemKey: parkedMsg.idempotencyKey,
        reason: 'lane_parked',
        original: encodeIngest(parkedMsg),
        originalSchema: INGEST_SCHEMA_FINGERPRINT,
        receivedAtMs: parkedMsg.receivedAtMs,
      });
      identifiers = [session.ids.idfv as string, idfa, session.customUserId as string, session.ip as string, 'onside-token-903'];
    });

    it('refuses without the admin key, or with a wrong one', async () => {
      const body = { appId: sys.gw.appId, device: key, requestedBy: 'test' };
      for (const headers of [{}, { 'x-admin-key': 'wrong' }]) {
        const r = await sys.gw.app.inject({ method: 'POST', url: '/v1/admin/privacy/erase', payload: body, headers });
        expect(r.statusCode).toBe(401);
        expect(r.json().code).toBe('ADMIN_KEY_INVALID');
      }
      const bad = await sys.gw.app.inject({
        method: 'POST',
        url: '/v1/admin/privacy/erase',
        payload: { device: '' },
        headers: { 'x-admin-key': ADMIN_KEY },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().errors.map((e: { field: string }) => e.field)).toEqual(['appId', 'device', 'requestedBy']);
    });

    it('leaves nothing in Postgres that matches the device identifiers in clear, and records the erasure', async () => {
      const before = await findInClear(sys.h.db.pool, sys.h.db.schema, identifiers);
      // The scan finds them before: identifiers, claims (IP), parked bytes, the idempotency key.
      expect([...new Set(before.map((m) => m.table))]).toEqual(
        expect.arrayContaining(['device_identifiers', 'request_outcomes', 'ledger', 'parked_records', 'intake']),
      );
      const receivedBefore = Date.now() - 1;
      const r = await sys.gw.app.inject({
        method: 'POST',
        url: '/v1/admin/privacy/erase',
        payload: { appId: sys.gw.appId, device: `idfv:${session.ids.idfv}`, requestedBy: 'dpo ticket 42' },
        headers: { 'x-admin-key': ADMIN_KEY },
      });
      expect(r.statusCode).toBe(200);
      const [erasure] = r.json().erasures;
      expect(erasure).toMatchObject({ deviceKey: key, requestedBy: 'dpo ticket 42', lookupKind: 'idfv' });
      expect(erasure.counts).toMatchObject({ devices: 1, identifiers: 3, parkedRecords: 1, attribution: 1, idempotencyKeys: 2 });
      expect(erasure.counts.replies).toBeGreaterThanOrEqual(3);

      expect(await findInClear(sys.h.db.pool, sys.h.db.schema, identifiers)).toEqual([]);
      const log = await sys.gw.app.inject({
        method: 'GET',
        url: `/v1/admin/privacy/erasures?appId=${sys.gw.appId}`,
        headers: { 'x-admin-key': ADMIN_KEY },
      });
      expect(log.json().erasures[0]).toMatchObject({ deviceKey: key, requestedBy: 'dpo ticket 42' });

      // The worker's guard: records received before the erasure are dropped, later ones are not.
      const privacy = createPrivacyRepo(sys.h.db.pool);
      expect(await privacy.isErased(sys.gw.appId, key, receivedBefore)).toBe(true);
      expect(await privacy.isErased(sys.gw.appId, key, Date.now() + 60_000)).toBe(false);
      expect(await privacy.isErased(sys.gw.appId, 'f'.repeat(32), receivedBefore)).toBe(false);

      const missing = await sys.gw.app.inject({
        method: 'POST',
        url: '/v1/admin/privacy/erase',
        payload: { appId: sys.gw.appId, device: 'not-an-identifier-anyone-has', requestedBy: 'x' },
        headers: { 'x-admin-key': ADMIN_KEY },
      });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().code).toBe('DEVICE_NOT_FOUND');
    });
  });
});
