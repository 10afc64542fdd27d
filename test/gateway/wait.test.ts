import { createOutcomesRepo } from '@s2s/store';
import type { Consumer, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeIngest,
  encodeReply,
  exampleEvent,
  exampleIosSession,
  exampleUuid,
  type IngestMessage,
  REPLY_SCHEMA_FINGERPRINT,
  type ReplyMessage,
  SCHEMA_HEADER,
  startTestGateway,
  type TestGateway,
} from '../../services/gateway/test/harness.js';
import { uniqueId } from '../support/index.js';

/** Plays the worker: reads s2s.ingest and publishes what `respond` returns to s2s.replies. */
async function playWorker(gw: TestGateway, respond: (m: IngestMessage) => ReplyMessage[]): Promise<() => Promise<void>> {
  const consumer: Consumer = gw.kafka.consumer({ groupId: uniqueId('worker'), maxWaitTimeInMs: 50 });
  const producer: Producer = gw.kafka.producer();
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topic: gw.topics.names.ingest, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const m = decodeIngest(message.value as Buffer, String(message.headers?.[SCHEMA_HEADER]));
      const replies = respond(m);
      if (replies.length === 0) return;
      await producer.send({
        topic: gw.topics.names.replies,
        messages: replies.map((r) => ({
          key: m.deviceKey,
          value: encodeReply(r),
          headers: { [SCHEMA_HEADER]: REPLY_SCHEMA_FINGERPRINT },
        })),
      });
    },
  });
  return async () => {
    await consumer.disconnect();
    await producer.disconnect();
  };
}

const reply = (m: IngestMessage, partner: ReplyMessage['partner'], extra: Partial<ReplyMessage> = {}): ReplyMessage => ({
  requestId: m.requestId,
  appId: m.appId,
  deviceKey: m.deviceKey,
  partner,
  outcome: 'forwarded',
  atMs: Date.now(),
  inDoubt: false,
  ...extra,
});

describe('Prefer: wait (replies relayed from s2s.replies)', () => {
  let gw: TestGateway;
  let stopWorker: () => Promise<void>;
  const headers = (wait: number) => ({ 'x-api-key': gw.apiKey, prefer: `wait=${wait}` });

  beforeAll(async () => {
    gw = await startTestGateway({ env: { MAX_WAIT_SECONDS: '10' } });
    stopWorker = await playWorker(gw, (m) => {
      const tag = m.record.eventId ?? '';
      if (tag.startsWith('silent')) return [];
      if (tag.startsWith('parked')) return [reply(m, 'singular', { outcome: 'parked', reason: 'no_session' })];
      if (m.kind === 'event') return [reply(m, 'singular')];
      return [
        reply(m, 'singular', {
          singular: { deferredDeeplink: 'myapp://promo/42', deferredPassthrough: 'pt', extra: { skan_conversion_value: '5' } },
        }),
        reply(m, 'oath', {
          oath: { claims: [{ timestampMs: 1_763_799_000_000, eventType: 1, campaignName: 'launch' }], networkId: 'n1' },
        }),
        reply(m, 'onside', { onside: { installationToken: 'inst-token-1' } }),
      ];
    });
  });
  afterAll(async () => {
    await stopWorker?.();
    await gw?.close();
  });

  it('answers 200 with every partner’s reply on a first iOS session (DDL, Oath claims, Onside token)', async () => {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: headers(10),
      payload: exampleIosSession(500, gw.appId),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['preference-applied']).toBe('wait=10');
    const body = res.json();
    expect(body).toMatchObject({
      status: 'forwarded',
      complete: true,
      replies: {
        singular: { outcome: 'forwarded', answer: { deferredDeeplink: 'myapp://promo/42' } },
        oath: { outcome: 'forwarded', answer: { claims: [{ campaignName: 'launch' }] } },
        onside: { outcome: 'forwarded', answer: { installationToken: 'inst-token-1' } },
      },
    });
  });

  it('answers the Singular drop-in like Singular: deferred_deeplink at the top', async () => {
    const q = new URLSearchParams({
      a: gw.apiKey,
      p: 'iOS',
      i: 'com.example.app',
      ip: '203.0.113.77',
      ve: '17.2',
      ma: 'Apple',
      mo: 'iPhone15,2',
      lc: 'en_US',
      bd: '21C62',
      app_v: '1.2.3',
      idfv: exampleUuid(501, 1, true),
      att_authorization_status: '0',
      install: 'true',
      install_time: '1763800000',
      update_time: '1763800000',
      install_receipt: 'MIIT8QYJKoZIhvcNAQcCoIIT4jCCE94CAQExCzAJ',
      ddl_enabled: 'true',
    });
    const res = await gw.app.inject({ method: 'GET', url: `/api/v1/launch?${q}`, headers: { prefer: 'wait=10' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'ok',
      deferred_deeplink: 'myapp://promo/42',
      deferred_passthrough: 'pt',
      skan_conversion_value: 5,
      s2s: { complete: true },
    });
  });

  it('answers 202 after N seconds when no reply comes, and 202 with what arrived (parked)', async () => {
    const session = exampleIosSession(502, gw.appId);
    const started = Date.now();
    const silent = await gw.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: headers(1),
      payload: { ...exampleEvent(session), eventId: 'silent-1' },
    });
    const elapsed = Date.now() - started;
    expect(silent.statusCode).toBe(202);
    expect(silent.headers['preference-applied']).toBe('wait=1');
    expect(silent.json()).toMatchObject({ status: 'accepted', complete: false, replies: {} });
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(3000);

    const parked = await gw.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: headers(1),
      payload: { ...exampleEvent(session), eventId: 'parked-1' },
    });
    expect(parked.statusCode).toBe(202);
    expect(parked.json()).toMatchObject({
      status: 'parked',
      complete: false,
      replies: { singular: { outcome: 'parked', reason: 'no_session' } },
    });
  });

  it('serves replies already stored in Postgres without waiting, and GET /v1/requests/{id} shows them', async () => {
    const record = { ...exampleEvent(exampleIosSession(503, gw.appId)), eventId: 'silent-503' };
    const first = await gw.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'x-api-key': gw.apiKey },
      payload: record,
    });
    expect(first.statusCode).toBe(202);
    const requestId = first.json().requestId as string;
    const { rows } = await gw.schema.pool.query<{ device_key: string }>('SELECT device_key FROM intake WHERE request_id = $1', [
      requestId,
    ]);
    // What a worker stores once Singular answered (published to s2s.replies before this gateway waited).
    await createOutcomesRepo(gw.schema.pool).record({
      requestId,
      appId: gw.appId,
      deviceKey: rows[0]!.device_key,
      partner: 'singular',
      outcome: 'forwarded',
      atMs: Date.now(),
      inDoubt: false,
    });
    const started = Date.now();
    const again = await gw.app.inject({ method: 'POST', url: '/v1/events', headers: headers(10), payload: record });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toMatchObject({ requestId, status: 'forwarded', complete: true });

    const view = await gw.app.inject({ method: 'GET', url: `/v1/requests/${requestId}`, headers: { 'x-api-key': gw.apiKey } });
    expect(view.json()).toMatchObject({
      requestId,
      kind: 'event',
      status: 'forwarded',
      replies: { singular: { outcome: 'forwarded' } },
    });
    const other = await gw.addApp({ id: `${gw.appId}-b` });
    const hidden = await gw.app.inject({
      method: 'GET',
      url: `/v1/requests/${requestId}`,
      headers: { 'x-api-key': other.apiKey },
    });
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json().code).toBe('REQUEST_NOT_FOUND');
  });
});
