/**
 * API key → app, cached for `ttlMs` in a small LRU so that intake does not ask Postgres per request.
 * The cost of the cache is staleness: a key revoked or an app disabled is still honoured for at most
 * `ttlMs` (AUTH_CACHE_TTL_MS, 5 s by default) by each gateway instance. Unknown keys are cached too
 * (as unknown), so a client retrying with a bad key does not hit Postgres either. Entries are keyed
 * by the key's SHA-256: the cache never holds a key in clear. Concurrent lookups of one key share
 * one query. A failed lookup is not cached. (The caching itself is the store's `createReadCache`.)
 */
import { createHash } from 'node:crypto';
import { type App, createReadCache } from '@s2s/store';

export interface AuthCacheOptions {
  ttlMs: number;
  max: number;
  now?: () => number;
  onResult?: (result: 'hit' | 'miss') => void;
}

export interface AuthCache {
  /** The app of a key (any status), or undefined when the key is unknown or revoked. */
  get(apiKey: string): Promise<App | undefined>;
  size(): number;
}

export function createAuthCache(lookup: (apiKey: string) => Promise<App | undefined>, options: AuthCacheOptions): AuthCache {
  const cache = createReadCache<App | undefined>(options);
  return {
    get: (apiKey) => cache.get(createHash('sha256').update(apiKey).digest('base64'), () => lookup(apiKey)),
    size: cache.size,
  };
}
