/**
 * Onside's public keys (`/.well-known/jwks.json`), cached. Rules (partner-apis.md §3.5 check 2, S-N11):
 * - fetched on first use and again once the cache is older than `maxAgeMs` (default 10 min);
 * - an unknown `kid` triggers one refetch, but never more than one fetch per `cooldownMs` (default
 *   60 s), so a flood of forged `kid`s cannot make the relay hammer Onside;
 * - concurrent callers share one in-flight fetch;
 * - keys are picked by `kid` and `kty` (RSA for RS256) by jose's local key set.
 *
 * An unknown `kid` is a verification failure when the keys in hand are fresh (fetched for this very
 * lookup); when the cooldown forbids a refetch it is `ONSIDE_JWKS_UNAVAILABLE` (retryable), because a
 * real key rotated in a moment ago must not send a good install to the DLQ.
 */
import { createLocalJWKSet, errors, type JWTVerifyGetKey } from 'jose';
import { PartnerError } from '../errors.js';
import type { HttpClient } from '../http.js';

export interface JwksCacheOptions {
  url: string;
  http: HttpClient;
  /** Wall clock (Unix ms); injectable so tests can pass a minute without waiting. */
  now?: (() => number) | undefined;
  cooldownMs?: number | undefined;
  maxAgeMs?: number | undefined;
  timeoutMs?: number | undefined;
}

export interface JwksCache {
  getKey: JWTVerifyGetKey;
  /** How many fetches were attempted (for tests and metrics). */
  fetches(): number;
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;

const unavailable = (message: string, cause?: unknown) =>
  new PartnerError('ONSIDE_JWKS_UNAVAILABLE', `onside JWKS: ${message}`, { partner: 'onside', retryable: true, cause });

export function createJwksCache(o: JwksCacheOptions): JwksCache {
  const now = o.now ?? Date.now;
  const cooldownMs = o.cooldownMs ?? 60_000;
  const maxAgeMs = o.maxAgeMs ?? 600_000;
  let set: LocalSet | undefined;
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<LocalSet> | undefined;
  let count = 0;

  async function load(): Promise<LocalSet> {
    count++;
    attemptedAt = now();
    const res = await o.http
      .send({
        partner: 'onside',
        method: 'GET',
        url: o.url,
        headers: { accept: 'application/jwk-set+json, application/json' },
        timeoutMs: o.timeoutMs,
      })
      .catch((e: unknown) => {
        throw unavailable(e instanceof Error ? e.message : 'fetch failed', e);
      });
    if (res.status !== 200) throw unavailable(`HTTP ${res.status}`);
    let fresh: LocalSet;
    try {
      fresh = createLocalJWKSet(JSON.parse(res.body));
    } catch (e) {
      throw unavailable('not a JSON Web Key Set', e);
    }
    set = fresh;
    fetchedAt = now();
    return fresh;
  }

  /** One fetch at a time; callers arriving meanwhile share it. */
  function reload(): Promise<LocalSet> {
    pending ??= load().finally(() => {
      pending = undefined;
    });
    return pending;
  }

  const getKey: JWTVerifyGetKey = async (header, token) => {
    let keys = set;
    let fresh = false;
    if (pending) {
      keys = await pending;
      fresh = true;
    } else if (!keys || now() - fetchedAt >= maxAgeMs) {
      keys = await reload();
      fresh = true;
    }
    try {
      return await keys(header, token);
    } catch (e) {
      if (!(e instanceof errors.JWKSNoMatchingKey) || fresh) throw e;
      if (now() - attemptedAt < cooldownMs)
        throw unavailable(
          `no key for kid ${JSON.stringify(header.kid ?? null)}; keys were fetched less than ${cooldownMs} ms ago`,
        );
      keys = await reload();
      return keys(header, token);
    }
  };

  return { getKey, fetches: () => count };
}
