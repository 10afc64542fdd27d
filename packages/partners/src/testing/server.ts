/**
 * Test helper (not exported): a real node:http server on 127.0.0.1, port 0, whose handler each test
 * scripts. It records every request with its raw request-line URL and counts TCP connections, so
 * tests can check bytes on the wire and keep-alive reuse. Closing it destroys open sockets.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Received {
  method: string;
  /** The request target exactly as sent (path and raw query). */
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Handler = (req: Received, res: ServerResponse, raw: IncomingMessage) => unknown;

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: Received[];
  connections(): number;
  /** Replaces the handler. */
  handle(h: Handler): void;
  /** Resolves with the next request received. */
  nextRequest(): Promise<Received>;
  close(): Promise<void>;
}

export async function startServer(initial: Handler = (_q, res) => res.end()): Promise<TestServer> {
  let handler = initial;
  const requests: Received[] = [];
  const sockets = new Set<Socket>();
  const waiting: ((r: Received) => void)[] = [];
  let connections = 0;
  const server = createServer((raw, res) => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('end', () => {
      const rec: Received = {
        method: raw.method ?? '',
        url: raw.url ?? '',
        headers: raw.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(rec);
      for (const w of waiting.splice(0)) w(rec);
      Promise.resolve(handler(rec, res, raw)).catch((e: unknown) => {
        res.statusCode = 599;
        res.end(String(e));
      });
    });
  });
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    connections: () => connections,
    handle(h) {
      handler = h;
    },
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Answers with a JSON body. */
export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPortUrl(): Promise<string> {
  const s = await startServer();
  const url = s.url;
  await s.close();
  return url;
}
