/**
 * API key → app, cached for `ttlMs` in a small LRU so that intake does not ask Postgres per request.
 * The cost of the cache is staleness: a key revoked or an app disabled is still honoured for at most
 * `ttlMs` (AUTH_CACHE_TTL_MS, 5 s by default) by each gateway instance. Unknown keys are cached too
 * (as unknown), so a client retrying with a bad key does not hit Postgres either. Entries are keyed
 * by the key's SHA-256: the cache never holds a key in clear. Concurrent lookups of one key share
 * one query. A failed lookup is not cached.
 */
import { createHash } from 'node:crypto';
import type { App } from '@s2s/store';

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

export function createAuthCache(
  lookup: (apiKey: string) => Promise<App | undefined>,
  { ttlMs, max, now = Date.now, onResult }: AuthCacheOptions,
): AuthCache {
  const entries = new Map<string, { app: App | undefined; expires: number }>();
  const pending = new Map<string, Promise<App | undefined>>();

  return {
    async get(apiKey) {
      const id = createHash('sha256').update(apiKey).digest('base64');
      const entry = entries.get(id);
      if (entry) {
        entries.delete(id);
        if (entry.expires > now()) {
          entries.set(id, entry); // most recently used goes last
          onResult?.('hit');
          return entry.app;
        }
      }
      onResult?.('miss');
      let p = pending.get(id);
      if (!p) {
        p = lookup(apiKey)
          .then((app) => {
            if (ttlMs > 0) {
              entries.set(id, { app, expires: now() + ttlMs });
              if (entries.size > max) entries.delete(entries.keys().next().value as string);
            }
            return app;
          })
          .finally(() => pending.delete(id));
        pending.set(id, p);
      }
      return p;
    },
    size: () => entries.size,
  };
}
