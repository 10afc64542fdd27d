import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  exampleAndroidSession,
  exampleEvent,
  exampleIosSession,
  exampleRevenueEvent,
  fc,
  startTestGateway,
  type TestGateway,
} from '../../services/gateway/test/harness.js';
import { endOffsetTotal } from './kafka-helpers.js';

type Kind = 'string' | 'number' | 'boolean' | 'object';
const FIELDS: Record<'session' | 'event', [string, Kind][]> = {
  session: [
    ['appId', 'string'],
    ['platform', 'string'],
    ['bundleId', 'string'],
    ['osVersion', 'string'],
    ['appVersion', 'string'],
    ['make', 'string'],
    ['model', 'string'],
    ['locale', 'string'],
    ['osBuild', 'string'],
    ['ip', 'string'],
    ['ids', 'object'],
    ['installTimeS', 'number'],
    ['updateTimeS', 'number'],
    ['install', 'boolean'],
    ['ddlEnabled', 'boolean'],
    ['installReceipt', 'string'],
    ['limitDataSharing', 'boolean'],
    ['attStatus', 'number'],
    ['installRef', 'object'],
  ],
  event: [
    ['appId', 'string'],
    ['platform', 'string'],
    ['bundleId', 'string'],
    ['osVersion', 'string'],
    ['ids', 'object'],
    ['name', 'string'],
    ['attributes', 'object'],
    ['amount', 'number'],
    ['currency', 'string'],
    ['ip', 'string'],
  ],
};
const REQUIRED: Record<'session' | 'event', string[]> = {
  session: [
    'appId',
    'platform',
    'bundleId',
    'osVersion',
    'ids',
    'installTimeS',
    'updateTimeS',
    'appVersion',
    'make',
    'model',
    'locale',
    'osBuild',
    'ip',
  ],
  event: ['appId', 'platform', 'bundleId', 'osVersion', 'ids', 'name', 'ip'],
};

const notString = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);
const wrongValue: Record<Kind, fc.Arbitrary<unknown>> = {
  string: notString,
  number: fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.object({ maxDepth: 1 }), fc.constant([1])),
  boolean: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant('true')),
  object: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 })),
};

/** A valid record of either kind, then 1–3 changes each of which makes it invalid. */
function mutatedRecord(appId: string) {
  return fc
    .record({ n: fc.integer({ min: 1, max: 50_000 }), base: fc.constantFrom('ios', 'android', 'event', 'revenue') })
    .chain(({ n, base }) => {
      const kind = base === 'ios' || base === 'android' ? ('session' as const) : ('event' as const);
      const session = base === 'android' || base === 'revenue' ? exampleAndroidSession(n, appId) : exampleIosSession(n, appId);
      const record: Record<string, unknown> =
        base === 'event'
          ? { ...exampleEvent(session) }
          : base === 'revenue'
            ? { ...exampleRevenueEvent(session) }
            : { ...session };
      const mutation = fc.oneof(
        fc.constantFrom(...REQUIRED[kind]).map((field) => (r: Record<string, unknown>) => void delete r[field]),
        fc.constantFrom(...FIELDS[kind]).chain(([field, type]) =>
          wrongValue[type].map((v) => (r: Record<string, unknown>) => {
            r[field] = v;
          }),
        ),
        fc
          .string({ minLength: 1, maxLength: 12 })
          .filter((k) => !FIELDS[kind].some(([f]) => f === k) && k !== '__proto__')
          .map((k) => (r: Record<string, unknown>) => {
            r[`x_${k}`] = 1;
          }),
      );
      return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => {
        for (const m of ms) m(record);
        return { kind, record };
      });
    });
}

describe('fuzzing the intake with malformed bodies', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { RATE_LIMIT_PER_SECOND: '1000000' } });
  });
  afterAll(async () => gw?.close());

  it('answers 3,000 malformed requests with 4xx problems, never 5xx, and produces nothing', async () => {
    const before = await endOffsetTotal(gw.topics.admin, gw.topics.names.ingest);
    const auth = { authorization: `Bearer ${gw.apiKey}` };
    const url = fc.constantFrom('/v1/sessions', '/v1/events');
    const request = fc.oneof(
      {
        weight: 4,
        arbitrary: mutatedRecord(gw.appId).map(({ kind, record }) => ({
          url: `/v1/${kind}s`,
          payload: JSON.stringify(record),
          type: 'application/json',
        })),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          url,
          payload: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null'),
          type: fc.constant('application/json'),
        }),
      },
      { weight: 1, arbitrary: fc.record({ url, payload: fc.string({ maxLength: 200 }), type: fc.constant('application/json') }) },
      {
        weight: 1,
        arbitrary: fc.record({
          url,
          payload: fc
            .constant(JSON.stringify(exampleIosSession(1, gw.appId)))
            .chain((s) => fc.integer({ min: 0, max: s.length - 1 }).map((i) => s.slice(0, i))),
          type: fc.constant('application/json'),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          url,
          payload: fc.constant(JSON.stringify(exampleIosSession(2, gw.appId))),
          type: fc.constantFrom(
            'text/plain',
            'application/x-www-form-urlencoded',
            'application/xml',
            'multipart/form-data; boundary=x',
          ),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.array(mutatedRecord(gw.appId), { minLength: 1, maxLength: 4 }).chain((bad) =>
          fc.integer({ min: 0, max: 3 }).map((good) => ({
            url: '/v1/batch',
            payload: JSON.stringify({
              records: [
                ...Array.from({ length: good }, (_, i) => ({ kind: 'session', record: exampleIosSession(900 + i, gw.appId) })),
                ...bad,
              ],
            }),
            type: 'application/json',
          })),
        ),
      },
      {
        weight: 1,
        arbitrary: fc
          .dictionary(
            fc.constantFrom('p', 'i', 'ip', 've', 'idfv', 'aifa', 'install', 'install_time', 'n', 'e', 'amt', 'zz'),
            fc.string({ maxLength: 20 }),
          )
          .chain((q) =>
            fc
              .constantFrom('/api/v1/launch', '/api/v1/evt')
              .map((path) => ({ url: `${path}?${new URLSearchParams(q)}`, payload: '', type: '' })),
          ),
      },
    );
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async ({ url, payload, type }) => {
        const get = url.startsWith('/api/');
        const res = await gw.app.inject({
          method: get ? 'GET' : 'POST',
          url,
          headers: get ? auth : { ...auth, 'content-type': type },
          ...(get ? {} : { payload }),
        });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        expect(res.statusCode, `${url} ${payload.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode, `${url} ${payload.slice(0, 300)} → ${res.body}`).toBeLessThan(500);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        const problem = res.json();
        expect(problem.status).toBe(res.statusCode);
        if (problem.code === 'VALIDATION_FAILED') expect(problem.errors.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
    expect(await endOffsetTotal(gw.topics.admin, gw.topics.names.ingest)).toBe(before);
    const { rows } = await gw.schema.pool.query<{ n: string }>('SELECT count(*) AS n FROM intake');
    expect(Number(rows[0]?.n)).toBe(0);
    // The run covered the intended answers, not only one of them.
    expect([...statuses.keys()].sort()).toEqual(expect.arrayContaining([400, 415]));
  });
});
