import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { oathSignature } from '../oath/signature.js';
import { IOS_SESSION } from '../singular/examples.js';
import { buildTestApp, qs, requestLog } from '../testing.js';

const SESSION_URL = `/singular/api/v1/launch?${qs(IOS_SESSION)}`;
const IDFV = IOS_SESSION.idfv!;
const oathUrl = () => {
  const q = qs({
    dp: 'd',
    id: 'x',
    ai: '577586159',
    mi: '38400000-8cf0-11bd-b23e-10b96e40000d',
    it: '1445539353000',
    ip: '203.0.113.7',
  });
  return `/oath/appinstall?bs=${oathSignature('sandbox-oath-key', `/appinstall?${q}`)}&${q}`;
};

/** Fault injection, over a real listening port: timeouts and dropped connections only exist there. */
describe('fault injection', () => {
  let app: FastifyInstance;
  let base: string;
  const slept: number[] = [];
  let rolls: number[] = [];

  async function start(options: { realSleep?: boolean } = {}) {
    slept.length = 0;
    rolls = [];
    app = await buildTestApp(
      {},
      {
        random: () => rolls.shift() ?? 0,
        ...(options.realSleep ? {} : { sleep: async (ms: number) => void slept.push(ms) }),
      },
    );
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  }
  afterEach(async () => {
    // Also proves that a held (timeout) socket does not keep close() waiting.
    await app.close();
  });

  interface FaultsAnswer {
    faults: unknown[];
    errors: { field: string }[];
  }
  const addFault = async (rule: unknown) => {
    const r = await fetch(`${base}/_sandbox/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(rule),
    });
    return { status: r.status, body: (await r.json()) as FaultsAnswer };
  };
  const listFaults = async () => ((await (await fetch(`${base}/_sandbox/faults`)).json()) as FaultsAnswer).faults;

  it('answers the scripted statuses in turn, for a count, without the partner acting on them', async () => {
    await start();
    expect(
      (await addFault({ partner: 'singular', kind: 'error', status: [503, 429, 500], count: 3, retryAfter: 2 })).status,
    ).toBe(201);
    const got: [number, string | null][] = [];
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${base}${SESSION_URL}`);
      got.push([r.status, r.headers.get('retry-after')]);
    }
    expect(got).toEqual([
      [503, '2'],
      [429, '2'],
      [500, '2'],
      [200, null],
    ]);
    const log = await requestLog(app);
    expect(log.map((e) => e.outcome)).toEqual(['fault:error', 'fault:error', 'fault:error', 'install']);
    expect(await listFaults()).toEqual([]);
  });

  it('can answer a Singular error envelope at HTTP 200 (a retryable reason, S1)', async () => {
    await start();
    await addFault({
      partner: 'singular',
      kind: 'error',
      status: 200,
      body: { status: 'error', reason: 'internal error' },
      count: 1,
    });
    const r = await fetch(`${base}${SESSION_URL}`);
    expect([r.status, await r.json()]).toEqual([200, { status: 'error', reason: 'internal error' }]);
  });

  it('limits a rule to a device (any of its IDs, any case), a partner or a path', async () => {
    await start();
    await addFault({ partner: 'singular', kind: 'error', device: IDFV.toLowerCase() });
    await addFault({ partner: 'onside', kind: 'error', status: 502, path: '/onside/.well-known/jwks.json' });
    expect((await fetch(`${base}${SESSION_URL}`)).status).toBe(503);
    const other = qs({ ...IOS_SESSION, idfv: '11111111-2222-3333-4444-555555555555' });
    expect((await fetch(`${base}/singular/api/v1/launch?${other}`)).status).toBe(200);
    expect((await fetch(`${base}${oathUrl()}`)).status).toBe(200);
    expect((await fetch(`${base}/onside/.well-known/jwks.json`)).status).toBe(502);
  });

  it('applies a partner "all" rule everywhere, and DELETE clears rules per partner or all', async () => {
    await start();
    await addFault({ partner: 'all', kind: 'error', status: 504 });
    await addFault({ partner: 'oath', kind: 'error', status: 500 });
    expect((await fetch(`${base}${oathUrl()}`)).status).toBe(504);
    expect((await fetch(`${base}/onside/.well-known/jwks.json`)).status).toBe(504);
    await fetch(`${base}/_sandbox/faults?partner=all`, { method: 'DELETE' });
    expect((await fetch(`${base}${oathUrl()}`)).status).toBe(500);
    expect((await fetch(`${base}/onside/.well-known/jwks.json`)).status).toBe(200);
    expect((await fetch(`${base}/_sandbox/faults`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${base}${oathUrl()}`)).status).toBe(200);
  });

  it('hits a request with probability rate', async () => {
    await start();
    await addFault({ partner: 'singular', kind: 'error', rate: 0.5 });
    rolls = [0.7, 0.2];
    expect((await fetch(`${base}${SESSION_URL}`)).status).toBe(200);
    expect((await fetch(`${base}${SESSION_URL}`)).status).toBe(503);
  });

  it('delays by a fixed latency or one drawn from a range, then answers normally', async () => {
    await start();
    await addFault([
      { partner: 'oath', kind: 'latency', latencyMs: 250 },
      { partner: 'singular', kind: 'latency', latencyMs: { min: 100, max: 199 } },
    ]);
    rolls = [0.5];
    expect((await fetch(`${base}${oathUrl()}`)).status).toBe(200);
    expect((await fetch(`${base}${SESSION_URL}`)).status).toBe(200);
    expect(slept).toEqual([250, 150]);
  });

  it('really waits with the default timer', async () => {
    await start({ realSleep: true });
    await addFault({ partner: 'singular', kind: 'latency', latencyMs: 300 });
    const t = performance.now();
    expect((await fetch(`${base}${SESSION_URL}`)).status).toBe(200);
    expect(performance.now() - t).toBeGreaterThanOrEqual(290);
  });

  it('holds the socket without answering on timeout until the client gives up', async () => {
    await start();
    await addFault({ partner: 'singular', kind: 'timeout', count: 1 });
    const err = await fetch(`${base}${SESSION_URL}`, { signal: AbortSignal.timeout(400) }).catch((e: Error) => e);
    expect((err as Error).name).toBe('TimeoutError');
    expect((await requestLog(app)).map((e) => [e.outcome, e.status])).toEqual([['fault:timeout', 0]]);
    expect((await fetch(`${base}${SESSION_URL}`)).status).toBe(200);
  });

  it('destroys the connection on drop', async () => {
    await start();
    await addFault({ partner: 'onside', kind: 'drop' });
    const err = await fetch(`${base}/onside/.well-known/jwks.json`).catch((e: Error) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((await requestLog(app)).map((e) => e.outcome)).toEqual(['fault:drop']);
  });

  it('with afterProcessing, acts on the request and then loses the answer (a call left in doubt)', async () => {
    await start();
    await addFault({ partner: 'singular', kind: 'drop', afterProcessing: true, count: 1 });
    await fetch(`${base}${SESSION_URL}`).catch(() => undefined);
    const retry = await fetch(`${base}${SESSION_URL}`);
    expect(await retry.json()).toEqual({ status: 'ok' });
    const log = await requestLog(app);
    expect(log.map((e) => [e.outcome, e.status, e.duplicate])).toEqual([
      ['install', 0, false],
      ['reinstall', 200, true],
    ]);
    expect(log[0]?.details).toMatchObject({ faultKind: 'drop', answered: { status: 'ok' } });
  });

  it('refuses malformed rules, naming the failing fields', async () => {
    await start();
    const cases: [unknown, string[]][] = [
      [{ partner: 'singular', kind: 'latency' }, ['latencyMs']],
      [{ partner: 'singular', kind: 'error', rate: 2 }, ['rate']],
      [{ partner: 'singular', kind: 'drop', status: 500 }, ['status']],
      [{ partner: 'nobody', kind: 'error', unknown: 1 }, ['partner', '(root)']],
      [{ partner: 'oath', kind: 'latency', latencyMs: { min: 5, max: 1 } }, ['latencyMs.min']],
      [
        [
          { partner: 'oath', kind: 'error' },
          { partner: 'oath', kind: 'bogus' },
        ],
        ['1.kind'],
      ],
    ];
    for (const [rule, fields] of cases) {
      const r = await addFault(rule);
      expect(r.status, JSON.stringify(rule)).toBe(400);
      expect(r.body.errors.map((e) => e.field)).toEqual(fields);
    }
    expect(await listFaults()).toEqual([]);
  });
});
