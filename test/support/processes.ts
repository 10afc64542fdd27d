/**
 * Real service processes for cross-service tests: each is one node process with tsx as its loader
 * (as `npm start` runs them), started from its own entry point in its own process group, on a free port, and is ready when its health URL answers. `stop()` sends
 * SIGTERM (SIGKILL after a grace period); `kill()` is SIGKILL at once, for crash tests.
 * `stopAllServices()` stops whatever is still running; in tests it runs after every file
 * (test/support/per-file.ts), even when a test fails. Benchmarks call it themselves.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  /** Everything the process wrote, for assertions on log lines. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  kill(): Promise<void>;
}

const running = new Set<ServiceProcess>();

export async function stopAllServices(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

export interface StartOptions {
  name: string;
  /** Entry point relative to the repository root, e.g. `services/partner-sandbox/src/server.ts`. */
  entry: string;
  env: NodeJS.ProcessEnv;
  /** Polled until it answers 2xx; omit for processes without an HTTP surface. */
  readyUrl?: string;
  readyTimeoutMs?: number;
}

export async function startService({
  name,
  entry,
  env,
  readyUrl,
  readyTimeoutMs = 60_000,
}: StartOptions): Promise<ServiceProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}${entry}`], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const signalGroup = (sig: NodeJS.Signals) => {
    if (child.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, sig);
      } catch {
        // gone already
      }
    }
  };
  const proc: ServiceProcess = {
    name,
    child,
    output: () => out,
    exited,
    async stop() {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      running.delete(proc);
    },
    async kill() {
      signalGroup('SIGKILL');
      await exited;
      running.delete(proc);
    },
  };
  running.add(proc);
  if (readyUrl) {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited during start:\n${out}`);
      try {
        const r = await fetch(readyUrl);
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`${name} not ready at ${readyUrl} after ${readyTimeoutMs} ms:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return proc;
}

export interface Sandbox {
  url: string;
  process: ServiceProcess;
  post(path: string, body: unknown): Promise<Response>;
  requests(query?: string): Promise<SandboxRequest[]>;
}

/** One entry of the sandbox's request log (the fields tests read). */
export interface SandboxRequest {
  seq: number;
  partner: 'singular' | 'oath' | 'onside';
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  receivedAt: string;
  deviceKey?: string;
  outcome: string;
  reason?: string;
  status: number;
  duplicate: boolean;
}

export async function startSandbox(env: NodeJS.ProcessEnv = {}): Promise<Sandbox> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = await startService({
    name: 'sandbox',
    entry: 'services/partner-sandbox/src/server.ts',
    env: { SANDBOX_PORT: String(port), ...env },
    readyUrl: `${url}/healthz`,
  });
  return {
    url,
    process: proc,
    post: (path, body) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    requests: async (query = '') => (await fetch(`${url}/_sandbox/requests${query}`)).json() as Promise<SandboxRequest[]>,
  };
}
