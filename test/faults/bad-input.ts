/**
 * Malformed and hostile requests for the real gateway process (fast-check, fixed seed): every one
 * must be refused with a 4xx, none may reach Kafka. Each generator keeps its requests invalid by
 * construction (a required field gone, a wrong type, an unknown field, a forged key...), and then
 * adds hostility on top (injection strings in every field, huge strings, bad UTF-8 bytes).
 */
import { exampleAndroidSession, exampleEvent, exampleIosSession, exampleRevenueEvent } from '@s2s/contracts';
import fc from 'fast-check';

export interface HostileRequest {
  kind: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export interface Keys {
  appId: string;
  apiKey: string;
  otherAppId: string;
  otherApiKey: string;
}

export const INJECTIONS = [
  "' OR '1'='1' --",
  '"; DROP TABLE intake; --',
  '<script>alert(1)</script>',
  ['$', '{jndi:ldap://127.0.0.1:1/x}'].join(''),
  '{{7*7}}',
  '../../../../etc/passwd',
  '$(cat /etc/passwd)',
  '\u0000\u0001\u001f',
  '\r\nSet-Cookie: x=1',
  '%00%0d%0a',
  '{"$gt": ""}',
  '__proto__',
  '\u202e\ufeff\ud800',
  'A'.repeat(5000),
];

const REQUIRED = {
  session: ['platform', 'bundleId', 'osVersion', 'ids', 'installTimeS', 'updateTimeS'],
  event: ['platform', 'bundleId', 'osVersion', 'ids', 'name'],
};

const injection = fc.constantFrom(...INJECTIONS);
const wrongType = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.constant({}),
);

type Rec = Record<string, unknown>;

function baseRecord(appId: string, n: number, base: number): { kind: 'session' | 'event'; record: Rec } {
  const session = n % 2 ? exampleIosSession(n, appId) : exampleAndroidSession(n, appId);
  if (base === 0) return { kind: 'session', record: { ...session } };
  if (base === 1) return { kind: 'event', record: { ...exampleEvent(session) } };
  return { kind: 'event', record: { ...exampleRevenueEvent(session) } };
}

/** Every string leaf of a record replaced by an injection string (nested ids and attributes too). */
function injectEverywhere(v: unknown, pick: () => string): unknown {
  if (typeof v === 'string') return pick();
  if (Array.isArray(v)) return v.map((x) => injectEverywhere(x, pick));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, injectEverywhere(x, pick)]));
  return v;
}

/** A valid record made invalid by 1–3 mutations, maybe with injection strings in other fields. */
const invalidRecord = (appId: string) =>
  fc
    .record({
      n: fc.integer({ min: 1, max: 60_000 }),
      base: fc.integer({ min: 0, max: 2 }),
      injectAll: fc.boolean(),
      injections: fc.array(injection, { minLength: 1, maxLength: 3 }),
    })
    .chain(({ n, base, injectAll, injections }) => {
      const { kind, record } = baseRecord(appId, n, base);
      const fields = Object.keys(record);
      const mutation = fc.oneof(
        fc.constantFrom(...REQUIRED[kind]).map((f) => (r: Rec) => void delete r[f]),
        fc.tuple(fc.constantFrom(...REQUIRED[kind]), wrongType).map(([f, v]) => (r: Rec) => {
          r[f] = v;
        }),
        fc.string({ minLength: 1, maxLength: 10 }).map((k) => (r: Rec) => {
          r[`x_${k}`] = 1;
        }),
        fc.constantFrom('installTimeS', 'timestampMs', 'attStatus').map((f) => (r: Rec) => {
          r[f] = '1763800000';
        }),
      );
      return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => {
        let i = 0;
        const out = (injectAll ? injectEverywhere(record, () => injections[i++ % injections.length] as string) : record) as Rec;
        if (!injectAll) for (const [j, s] of injections.entries()) out[fields[(n + j) % fields.length] as string] = s;
        for (const m of ms) m(out);
        out.appId = appId; // the key's app, so the refusal comes from validation, not the 403
        if (injectAll) delete out.ids; // injected ids are invalid anyway; make sure one required field is gone
        return { kind, record: out };
      });
    });

const json = (apiKey: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${apiKey}`,
  'content-type': 'application/json',
  ...extra,
});

/** Bytes that are not UTF-8, spliced into the JSON text of a record. */
const BAD_UTF8 = [
  Uint8Array.of(0xff),
  Uint8Array.of(0xc3, 0x28),
  Uint8Array.of(0xed, 0xa0, 0x80),
  Uint8Array.of(0xf8, 0x88, 0x80),
];
function withBadBytes(text: string, at: string, bad: Uint8Array): Uint8Array {
  const i = text.indexOf(at);
  const enc = new TextEncoder();
  const head = enc.encode(text.slice(0, i + at.length));
  const tail = enc.encode(text.slice(i + at.length));
  const out = new Uint8Array(head.length + bad.length + tail.length);
  out.set(head);
  out.set(bad, head.length);
  out.set(tail, head.length + bad.length);
  return out;
}

/** Percent-encodes a string for a path, lone surrogates included (as their raw UTF-16 code units would be garbage). */
const pathSegment = (s: string) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'));

export function hostileRequests(k: Keys): fc.Arbitrary<HostileRequest> {
  const rec = invalidRecord(k.appId);
  const validBody = fc.integer({ min: 1, max: 60_000 }).map((n) => JSON.stringify(exampleIosSession(n, k.appId)));
  return fc.oneof(
    {
      weight: 6,
      arbitrary: rec.map(({ kind, record }) => ({
        kind: 'invalid record',
        method: 'POST' as const,
        path: `/v1/${kind}s`,
        headers: json(k.apiKey),
        body: JSON.stringify(record),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(rec, fc.constantFrom('model', 'userAgent', 'installReceipt', 'customUserId', 'name')).map(([r, f]) => ({
        kind: 'huge string',
        method: 'POST' as const,
        path: `/v1/${r.kind}s`,
        headers: json(k.apiKey),
        body: JSON.stringify({ ...r.record, [f]: 'x'.repeat(70_000) }),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(rec, fc.constantFrom(...BAD_UTF8)).map(([r, bad]) => {
        const text = JSON.stringify(r.record);
        return {
          kind: 'bad utf-8 (invalid record)',
          method: 'POST' as const,
          path: `/v1/${r.kind}s`,
          headers: json(k.apiKey),
          body: withBadBytes(text, '"osVersion":"', bad),
        };
      }),
    },
    {
      weight: 1,
      arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({
        kind: 'random json',
        method: 'POST' as const,
        path: '/v1/sessions',
        headers: json(k.apiKey),
        body: JSON.stringify(v) ?? 'null',
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(validBody, fc.integer({ min: 1, max: 400 })).map(([b, cut]) => ({
        kind: 'truncated json',
        method: 'POST' as const,
        path: '/v1/sessions',
        headers: json(k.apiKey),
        body: b.slice(0, b.length - cut),
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          validBody,
          fc.constantFrom(
            'text/plain',
            'application/xml',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/json-patch+json',
            '',
          ),
        )
        .map(([b, type]) => ({
          kind: 'wrong content type',
          method: 'POST' as const,
          path: '/v1/sessions',
          headers: { authorization: `Bearer ${k.apiKey}`, 'content-type': type },
          body: b,
        })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.integer({ min: 1, max: 60_000 }),
          fc.constantFrom<[string, Record<string, string>]>(
            ['no key', { 'content-type': 'application/json' }],
            ['forged key', json('s2s_forged0000000000000000000000')],
            ['injection key', json("' OR 1=1 --")],
            ['huge key', json('k'.repeat(8_000))],
            ['basic auth', { authorization: 'Basic YWRtaW46YWRtaW4=', 'content-type': 'application/json' }],
            ['empty bearer', { authorization: 'Bearer ', 'content-type': 'application/json' }],
            ['other app key', json(k.otherApiKey)],
            ['other app key header', { 'x-api-key': k.otherApiKey, 'content-type': 'application/json' }],
          ),
        )
        .map(([n, [why, headers]]) => ({
          kind: `auth: ${why}`,
          method: 'POST' as const,
          path: '/v1/sessions',
          headers,
          // A valid record of the key's app would be accepted: the record is always app A's.
          body: JSON.stringify(exampleAndroidSession(n, k.appId)),
        })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 60_000 }).map((n) => ({
        kind: 'record of another app',
        method: 'POST' as const,
        path: '/v1/events',
        headers: json(k.apiKey),
        body: JSON.stringify(exampleEvent(exampleAndroidSession(n, k.otherAppId))),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.array(rec, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 3 })).map(([bad, good]) => ({
        kind: 'batch with invalid items',
        method: 'POST' as const,
        path: '/v1/batch',
        headers: json(k.apiKey),
        body: JSON.stringify({
          records: [
            ...Array.from({ length: good }, (_, i) => ({ kind: 'session', record: exampleIosSession(90_000 + i, k.appId) })),
            ...bad,
          ],
        }),
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.dictionary(fc.constantFrom('p', 'i', 've', 'idfv', 'aifa', 'n', 'e', 'amt', 'install'), injection),
          fc.constantFrom('/api/v1/launch', '/api/v1/evt'),
          fc.boolean(),
        )
        .map(([q, path, other]) => ({
          kind: 'drop-in with bad parameters',
          method: 'GET' as const,
          // ip is never a valid IPv4 here: the request can never be accepted.
          path: `${path}?${new URLSearchParams({ ...q, ip: '999.1.1.1', a: other ? k.otherApiKey : k.apiKey })}`,
          headers: {},
        })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(validBody, fc.constantFrom('k'.repeat(300), 'two words', 'é-key', '')).map(([b, key]) => ({
        kind: 'bad idempotency key',
        method: 'POST' as const,
        path: '/v1/sessions',
        headers: json(k.apiKey, { 'idempotency-key': key }),
        body: b,
      })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(injection, fc.constantFrom('GET', 'PUT', 'DELETE', 'POST') as fc.Arbitrary<HostileRequest['method']>)
        .map(([s, method]) => ({
          kind: 'hostile path',
          method,
          path: method === 'GET' ? `/v1/requests/${pathSegment(s)}` : `/v1/${pathSegment(s)}`,
          headers: json(k.apiKey),
          ...(method === 'GET' ? {} : { body: '{}' }),
        })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 60_000 }).map((n) => ({
        kind: 'prototype pollution',
        method: 'POST' as const,
        path: '/v1/sessions',
        headers: json(k.apiKey),
        body: JSON.stringify(exampleIosSession(n, k.appId)).replace(
          /^\{/,
          '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},',
        ),
      })),
    },
  );
}

/** Requests generated outside fast-check: bodies over the limit, very deep nesting. */
export function edgeRequests(k: Keys): HostileRequest[] {
  const big = JSON.stringify({ ...exampleIosSession(1, k.appId), installReceipt: 'x'.repeat(300 * 1024) });
  const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
  const deepObj = `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`;
  return [
    ...Array.from({ length: 10 }, () => ({
      kind: 'oversized body',
      method: 'POST' as const,
      path: '/v1/sessions',
      headers: json(k.apiKey),
      body: big,
    })),
    ...Array.from({ length: 5 }, () => ({
      kind: 'oversized batch',
      method: 'POST' as const,
      path: '/v1/batch',
      headers: json(k.apiKey),
      body: `{"records":[${Array.from({ length: 800 }, () => JSON.stringify({ kind: 'session', record: exampleIosSession(3, k.appId) })).join(',')}]}`,
    })),
    ...Array.from({ length: 5 }, () => ({
      kind: 'deep nesting',
      method: 'POST' as const,
      path: '/v1/sessions',
      headers: json(k.apiKey),
      body: deep,
    })),
    ...Array.from({ length: 5 }, () => ({
      kind: 'deep nesting',
      method: 'POST' as const,
      path: '/v1/events',
      headers: json(k.apiKey),
      body: deepObj,
    })),
  ];
}

/** A valid record with bytes that are not UTF-8 in a free-text field: must be refused, not stored with U+FFFD. */
export function badUtf8ValidRecords(k: Keys): HostileRequest[] {
  return BAD_UTF8.map((bad, i) => ({
    kind: 'bad utf-8 in a valid record',
    method: 'POST' as const,
    path: '/v1/sessions',
    headers: json(k.apiKey),
    body: withBadBytes(JSON.stringify(exampleIosSession(70_000 + i, k.appId)), '"model":"iPhone', bad),
  }));
}

export interface Answered {
  req: HostileRequest;
  status: number;
  body: string;
}

/** Sends every request, `concurrency` at a time; status 0 = the connection failed. */
export async function sendAll(baseUrl: string, reqs: HostileRequest[], concurrency = 24): Promise<Answered[]> {
  const out: Answered[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < reqs.length) {
        const req = reqs[next++] as HostileRequest;
        try {
          const res = await fetch(`${baseUrl}${req.path}`, {
            method: req.method,
            headers: req.headers,
            ...(req.body === undefined ? {} : { body: req.body }),
            signal: AbortSignal.timeout(15_000),
          });
          out.push({ req, status: res.status, body: (await res.text()).slice(0, 500) });
        } catch (err) {
          out.push({ req, status: 0, body: String(err) });
        }
      }
    }),
  );
  return out;
}
