import { Writable } from 'node:stream';
import { createLogger } from '@s2s/logging';
import { afterEach, describe, expect, it } from 'vitest';
import { oathSignature } from './oath/signature.js';
import { IOS_SESSION } from './singular/examples.js';
import { buildTestApp, qs } from './testing.js';

const SDK_KEY = 'acme_sh868sdjv-SECRET';

function capture(level: string) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ name: 'partner-sandbox', level, destination }) };
}

describe('the sandbox app', () => {
  let close: (() => Promise<unknown>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('never writes the Singular SDK key or the Oath signature to its own log', async () => {
    const { lines, logger } = capture('debug');
    const app = await buildTestApp({ LOG_LEVEL: 'debug' }, { logger });
    close = () => app.close();
    const params = { ...IOS_SESSION, a: SDK_KEY };
    await app.inject(`/singular/api/v1/launch?${qs(params)}`);
    await app.inject({
      method: 'POST',
      url: '/singular/api/v1/evt',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: qs({ ...params, n: 'x' }),
    });
    const q = qs({
      dp: 'd',
      id: 'i',
      ai: '577586159',
      mi: '38400000-8cf0-11bd-b23e-10b96e40000d',
      it: '1445539353000',
      ip: '1.2.3.4',
    });
    const bs = oathSignature('sandbox-oath-key', `/appinstall?${q}`);
    expect((await app.inject(`/oath/appinstall?bs=${bs}&${q}`)).statusCode).toBe(200);
    await app.inject(`/oath/appinstall?bs=${'f'.repeat(64)}&${q}`);

    const text = lines.join('');
    // The lines are there (at debug), with the secrets replaced.
    expect(lines.filter((l) => l.includes('"partner request"'))).toHaveLength(4);
    expect(text).toContain('a=[redacted]');
    expect(text).toContain('bs=[redacted]');
    expect(text).not.toContain(SDK_KEY);
    expect(text).not.toContain(bs);
    expect(text).not.toContain('f'.repeat(64));
    // The request log, a test surface, keeps them.
    const log = (await app.inject('/_sandbox/requests')).json();
    expect(log[0].query.a).toBe(SDK_KEY);
  });

  it('writes no line per partner request at info level', async () => {
    const { lines, logger } = capture('info');
    const app = await buildTestApp({}, { logger });
    close = () => app.close();
    for (let i = 0; i < 5; i++)
      await app.inject(`/singular/api/v1/launch?${qs({ ...IOS_SESSION, utime: String(1700000000 + i) })}`);
    expect(lines).toEqual([]);
  });

  it('accepts a 60 KB Singular URL on a real socket (S21: receipts travel in the query)', async () => {
    const app = await buildTestApp();
    close = () => app.close();
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `${base}/singular/api/v1/launch?${qs({ ...IOS_SESSION, install_receipt: 'A'.repeat(60_000) })}`;
    expect(url.length).toBeGreaterThan(60_000);
    const r = await fetch(url);
    expect([r.status, await r.json()]).toEqual([200, { status: 'ok' }]);
  });

  it('answers 404 for paths no partner has', async () => {
    const app = await buildTestApp();
    close = () => app.close();
    expect((await app.inject('/singular/api/v1/install')).statusCode).toBe(404);
    expect((await app.inject('/oath/appinstall/extra')).statusCode).toBe(404);
  });
});
