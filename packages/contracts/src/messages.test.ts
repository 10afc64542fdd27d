import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { createCodec, INGEST_V1, REPLY_V1 } from './avro.js';
import { exampleAndroidSession, exampleEvent, exampleIosSession, exampleRevenueEvent } from './examples.js';
import { bodyHash, deviceKey } from './identity.js';
import {
  decodeDeadLetter,
  decodeIngest,
  decodeReply,
  encodeDeadLetter,
  encodeIngest,
  encodeReply,
  INGEST_SCHEMA_FINGERPRINT,
  type IngestMessage,
  REPLY_SCHEMA_FINGERPRINT,
  type ReplyMessage,
} from './messages.js';

const meta = {
  requestId: '0190a0b0-0000-7000-8000-000000000001',
  idempotencyKey: 'k1',
  bodyHash: 'h',
  appId: 'demo',
  deviceKey: 'd1',
  receivedAtMs: 1_763_800_000_000,
};

describe('topic messages', () => {
  it('round-trip sessions and events through Avro unchanged', () => {
    const msgs: IngestMessage[] = [
      { ...meta, kind: 'session', record: exampleIosSession() },
      { ...meta, kind: 'session', record: exampleAndroidSession() },
      { ...meta, kind: 'event', record: exampleEvent(exampleIosSession()) },
      {
        ...meta,
        kind: 'event',
        record: { ...exampleRevenueEvent(exampleAndroidSession()), attributes: { n: 3, ok: true, s: 'x' } },
      },
    ];
    for (const m of msgs) expect(decodeIngest(encodeIngest(m), INGEST_SCHEMA_FINGERPRINT)).toEqual(m);
  });

  it('encode fields left undefined, and a record without ids, as absent', () => {
    const { ids: _ids, ...noIds } = exampleEvent(exampleIosSession());
    const m = { ...meta, kind: 'event', record: { ...noIds, ip: undefined } } as unknown as IngestMessage;
    const back = decodeIngest(encodeIngest(m), INGEST_SCHEMA_FINGERPRINT);
    expect(back.record).toEqual({ ...noIds, ip: undefined, ids: {}, appId: meta.appId });
    expect('ip' in back.record).toBe(false);
  });

  it('fingerprints the schema as SHA-256 of its canonical form', () => {
    const fp = avro.Type.forSchema(INGEST_V1 as avro.Schema)
      .fingerprint('sha256')
      .toString('hex');
    expect(INGEST_SCHEMA_FINGERPRINT).toBe(fp);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
  });

  it('still reads a message written with an older schema after a field is added', () => {
    const v1 = { type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] };
    const v2 = {
      type: 'record',
      name: 'R',
      fields: [
        { name: 'a', type: 'string' },
        { name: 'b', type: ['null', 'string'], default: null },
      ],
    };
    const old = createCodec<{ a: string }>([v1]);
    const current = createCodec<{ a: string; b: string | null }>([v1, v2]);
    expect(current.decode(old.encode({ a: 'x' }), old.fingerprint)).toEqual({ a: 'x', b: null });
    expect(() => current.decode(Buffer.from([0]), 'f'.repeat(64))).toThrow(/no known schema/);
  });

  it('reads replies written before `expected` existed (schema v1) with the current schema', () => {
    const v1 = createCodec<Record<string, unknown>>([REPLY_V1]);
    const old = v1.encode({
      requestId: 'r',
      appId: 'a',
      deviceKey: 'd',
      partner: 'singular',
      outcome: 'forwarded',
      atMs: 1,
      reason: null,
      inDoubt: false,
      singular: null,
      oath: null,
      onside: null,
    });
    expect(decodeReply(old, v1.fingerprint)).toEqual({
      requestId: 'r',
      appId: 'a',
      deviceKey: 'd',
      partner: 'singular',
      outcome: 'forwarded',
      atMs: 1,
      inDoubt: false,
    });
    expect(REPLY_SCHEMA_FINGERPRINT).not.toBe(v1.fingerprint);
  });

  it('round-trips replies with every partner answer', () => {
    const reply: ReplyMessage = {
      requestId: 'r',
      appId: 'demo',
      deviceKey: 'd',
      partner: 'singular',
      outcome: 'forwarded',
      atMs: 1,
      inDoubt: false,
      singular: { deferredDeeplink: 'myapp://x', extra: { conversion_value: '7' } },
      oath: { claims: [{ timestampMs: 1_445_539_353_000, eventType: 200, campaignName: 'c' }], networkId: 'n' },
      onside: { installationToken: 'it', attributionData: { source: 'facebook_ads', tags: ['a'] } },
      expected: ['singular', 'oath', 'onside'],
    };
    expect(decodeReply(encodeReply(reply))).toEqual(reply);
    const bare: ReplyMessage = {
      requestId: 'r',
      appId: 'a',
      deviceKey: 'd',
      partner: 'oath',
      outcome: 'dlq',
      atMs: 2,
      reason: 'no_session',
      inDoubt: false,
    };
    expect(decodeReply(encodeReply(bare))).toEqual(bare);
    // Nested fields left undefined are written as the schema's defaults, without a copy of the reply.
    const sparse = {
      ...bare,
      partner: 'singular',
      outcome: 'forwarded',
      singular: { deferredDeeplink: undefined, extra: undefined },
      onside: { installationToken: 't', attributionData: { source: 's', tags: undefined } },
    } as unknown as ReplyMessage;
    expect(decodeReply(encodeReply(sparse))).toEqual({
      ...bare,
      partner: 'singular',
      outcome: 'forwarded',
      singular: { extra: {} },
      onside: { installationToken: 't', attributionData: { source: 's', tags: [] } },
    });
  });

  it('round-trips dead letters with the original bytes', () => {
    const original = encodeIngest({ ...meta, kind: 'event', record: exampleEvent(exampleIosSession()) });
    const dl = {
      requestId: 'r',
      appId: 'a',
      deviceKey: 'd',
      reason: 'no_session',
      attempts: 0,
      failedAtMs: 5,
      originalSchema: INGEST_SCHEMA_FINGERPRINT,
      original,
    };
    const back = decodeDeadLetter(encodeDeadLetter(dl));
    expect(back).toEqual(dl);
    expect(decodeIngest(back.original, back.originalSchema).kind).toBe('event');
  });
});

describe('identity', () => {
  it('keeps a device on one key when an advertising id appears later', () => {
    const s = exampleIosSession(7);
    const withIdfa = { ...s, attStatus: 3, ids: { ...s.ids, idfa: 'DFC5A647-9043-4699-B2A5-76F03A97064B' } };
    expect(deviceKey(withIdfa)).toBe(deviceKey(s));
    const a = exampleAndroidSession(7);
    expect(deviceKey({ ...a, ids: { asid: a.ids.asid } })).toBe(deviceKey(a));
    expect(deviceKey({ ...a, ids: { ...a.ids, aifa: '4012358e-69e6-49a8-a3f3-57b743751cb8' } })).toBe(deviceKey(a));
  });

  it('separates devices and apps, and prefers the app install id when given', () => {
    expect(deviceKey(exampleIosSession(1))).not.toBe(deviceKey(exampleIosSession(2)));
    expect(deviceKey(exampleIosSession(1, 'a'))).not.toBe(deviceKey(exampleIosSession(1, 'b')));
    const installId = '49c2d3a6-326e-4ec5-a16b-0a47e34ed953';
    expect(deviceKey({ ...exampleIosSession(1), installId })).toBe(deviceKey({ ...exampleIosSession(2), installId }));
  });

  it('hashes bodies independently of key order', () => {
    expect(bodyHash({ a: 1, b: { c: 2, d: 3 } })).toBe(bodyHash({ b: { d: 3, c: 2 }, a: 1 }));
    expect(bodyHash({ a: 1 })).not.toBe(bodyHash({ a: 2 }));
  });
});
