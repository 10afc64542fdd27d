/**
 * Helpers for this package's tests: an app with a fixed clock, a silent logger and one RSA key
 * shared by the whole test file (generating one costs about a tenth of a second).
 */
import type { FastifyInstance } from 'fastify';
import { type BuildOptions, buildApp } from './app.js';
import { loadSandboxConfig } from './config.js';
import { generateSigningKey, type SigningKey } from './onside/keys.js';
import type { RequestLogEntry } from './request-log.js';

/** 2025-01-15T12:00:00Z, the tests' "now". */
export const T0 = Date.parse('2025-01-15T12:00:00Z');

let sharedKey: Promise<SigningKey> | undefined;
export const testKey = () => {
  sharedKey ??= generateSigningKey('public_key_1');
  return sharedKey;
};

export async function buildTestApp(
  env: Record<string, string> = {},
  options: Partial<BuildOptions> = {},
): Promise<FastifyInstance> {
  const config = loadSandboxConfig({ LOG_LEVEL: 'silent', ...env });
  return buildApp({ config, clock: () => T0, onsideKey: await testKey(), ...options });
}

/** A query string with every value encoded the way a careful client does (`%20`, never `+`). */
export function qs(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');
}

export async function requestLog(app: FastifyInstance, query = ''): Promise<RequestLogEntry[]> {
  const r = await app.inject({ method: 'GET', url: `/_sandbox/requests${query}` });
  return r.json();
}

export async function lastEntry(app: FastifyInstance): Promise<RequestLogEntry> {
  const all = await requestLog(app);
  const e = all.at(-1);
  if (!e) throw new Error('the request log is empty');
  return e;
}

export async function postJson(app: FastifyInstance, url: string, payload: unknown) {
  return app.inject({ method: 'POST', url, payload: payload as object, headers: { 'content-type': 'application/json' } });
}
