import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpClient, type HttpClient } from './http.js';
import { failure } from './testing/failure.js';
import { closedPortUrl, startServer, type TestServer } from './testing/server.js';

const SECRET = 'sk_live_SECRET_123';

describe('http client', () => {
  let server: TestServer;
  let http: HttpClient;
  beforeEach(async () => {
    server = await startServer();
    http = createHttpClient({ timeoutMs: 2_000 });
  });
  afterEach(async () => {
    await http.close();
    await server.close();
  });

  it('returns status, headers and body of any answer, and reuses one keep-alive connection', async () => {
    server.handle((_q, res) => {
      res.writeHead(503, { 'x-test': 'yes' });
      res.end('busy');
    });
    const a = await http.send({ partner: 'singular', method: 'GET', url: `${server.url}/x?a=1` });
    const b = await http.send({ partner: 'singular', method: 'POST', url: `${server.url}/y`, body: 'k=v' });
    expect(a).toMatchObject({ status: 503, body: 'busy', headers: { 'x-test': 'yes' } });
    expect(b.status).toBe(503);
    expect(server.requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ['GET', '/x?a=1', ''],
      ['POST', '/y', 'k=v'],
    ]);
    // Sequential calls ride kept-alive sockets (undici may open a second while the first is released).
    for (let i = 0; i < 5; i++) await http.send({ partner: 'singular', method: 'GET', url: `${server.url}/z` });
    expect(server.requests).toHaveLength(7);
    expect(server.connections()).toBeLessThanOrEqual(2);
  });

  it('connection refused: PARTNER_UNAVAILABLE, retryable, not in doubt', async () => {
    const url = await closedPortUrl();
    const e = await failure(http.send({ partner: 'singular', method: 'GET', url: `${url}/api?a=${SECRET}`, secrets: [SECRET] }));
    expect(e).toMatchObject({ code: 'PARTNER_UNAVAILABLE', retryable: true, inDoubt: false, partner: 'singular' });
  });

  it('timeout after the request was sent: PARTNER_TIMEOUT, in doubt', async () => {
    server.handle(() => {}); // never answers
    const e = await failure(
      http.send({
        partner: 'oath',
        method: 'GET',
        url: `${server.url}/appinstall?bs=${SECRET}`,
        timeoutMs: 150,
        secrets: [SECRET],
      }),
    );
    expect(e).toMatchObject({ code: 'PARTNER_TIMEOUT', retryable: true, inDoubt: true });
    expect(server.requests).toHaveLength(1);
    expect(e.message).not.toContain(SECRET);
  });

  it('timeout before a connection exists: PARTNER_TIMEOUT, not in doubt, nothing sent', async () => {
    // A real undici Agent whose connector never completes: the TCP connect "hangs".
    const stuck = new Agent({ connect: () => {} });
    const client = createHttpClient({ dispatcher: stuck });
    const e = await failure(client.send({ partner: 'singular', method: 'GET', url: `${server.url}/x`, timeoutMs: 100 }));
    expect(e).toMatchObject({ code: 'PARTNER_TIMEOUT', retryable: true, inDoubt: false });
    expect(server.requests).toHaveLength(0);
    await stuck.destroy();
  });

  it('connection reset after the request was sent: PARTNER_CONNECTION_LOST, in doubt', async () => {
    server.handle((_q, _res, raw) => {
      raw.socket.destroy();
    });
    const e = await failure(
      http.send({ partner: 'singular', method: 'GET', url: `${server.url}/api/v1/launch?a=${SECRET}`, secrets: [SECRET] }),
    );
    expect(e).toMatchObject({ code: 'PARTNER_CONNECTION_LOST', retryable: true, inDoubt: true });
    expect(server.requests).toHaveLength(1);
  });

  it('connection cut in the middle of the answer body: in doubt', async () => {
    server.handle((_q, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('{"status":');
      setImmediate(() => res.socket?.destroy());
    });
    const e = await failure(http.send({ partner: 'singular', method: 'GET', url: `${server.url}/x` }));
    expect(e).toMatchObject({ code: 'PARTNER_CONNECTION_LOST', retryable: true, inDoubt: true });
  });

  it("the caller's AbortSignal: in doubt once sent, not before", async () => {
    const ac = new AbortController();
    server.handle(() => ac.abort());
    const sent = await failure(
      http.send({ partner: 'onside', method: 'POST', url: `${server.url}/i`, body: '{}', signal: ac.signal }),
    );
    expect(sent).toMatchObject({ code: 'PARTNER_ABORTED', retryable: true, inDoubt: true });

    const before = await failure(
      http.send({ partner: 'onside', method: 'POST', url: `${server.url}/i`, body: '{}', signal: ac.signal }),
    );
    expect(before).toMatchObject({ code: 'PARTNER_ABORTED', inDoubt: false });
    expect(server.requests).toHaveLength(1);
  });

  it('refuses a URL over the size limit without sending it', async () => {
    const client = createHttpClient({ maxUrlBytes: 100 });
    const e = await failure(client.send({ partner: 'singular', method: 'GET', url: `${server.url}/x?r=${'A'.repeat(100)}` }));
    expect(e).toMatchObject({ code: 'PARTNER_REQUEST_TOO_LARGE', retryable: false });
    expect(server.requests).toHaveLength(0);
    await client.close();
  });

  it('an oversized answer is a bad answer, in doubt', async () => {
    const client = createHttpClient({ maxResponseBytes: 10 });
    server.handle((_q, res) => res.end('x'.repeat(1000)));
    const e = await failure(client.send({ partner: 'oath', method: 'GET', url: `${server.url}/x` }));
    expect(e).toMatchObject({ code: 'PARTNER_BAD_ANSWER', inDoubt: true });
    await client.close();
  });

  it('keeps secrets out of error messages and causes even when the library quotes them', async () => {
    // An invalid header value makes undici fail with "invalid <name> header": the secret rides in the name.
    const e = await failure(
      http.send({
        partner: 'onside',
        method: 'GET',
        url: `${server.url}/x`,
        headers: { [`x-${SECRET}`]: 'bad\nvalue' },
        secrets: [SECRET],
      }),
    );
    expect(e).toMatchObject({ code: 'PARTNER_CONFIG_INVALID', retryable: false });
    expect((e.cause as Error).message).toBe('invalid x-[redacted] header');
    const everything = `${e.message} ${String((e.cause as Error | undefined)?.message)} ${JSON.stringify(e)}`;
    expect(everything).not.toContain(SECRET);
  });
});
