/**
 * A read-through cache for look-ups in Postgres (the gateway's API key → app, the worker's app
 * settings): a value is read at most once per key every `ttlMs`, and concurrent look-ups of one key
 * share one read, so an entry that expires under load costs one query, not one per waiting request.
 * `undefined` (nothing found) is cached like any value; a failed read is not cached (the next
 * look-up reads again). With `max`, the least recently used entry goes first; with `ttlMs` 0 nothing
 * is kept.
 */
export interface ReadCacheOptions {
  ttlMs: number;
  /** Entries kept at most (least recently used evicted first); unbounded when absent. */
  max?: number;
  now?: () => number;
  onResult?: (result: 'hit' | 'miss') => void;
}

export interface ReadCache<V> {
  /** The cached value of `key`, else the result of `read()` (shared with concurrent look-ups of `key`). */
  get(key: string, read: () => Promise<V>): Promise<V>;
  size(): number;
}

export function createReadCache<V>({
  ttlMs,
  max = Number.POSITIVE_INFINITY,
  now = Date.now,
  onResult,
}: ReadCacheOptions): ReadCache<V> {
  const entries = new Map<string, { value: V; expires: number }>();
  const pending = new Map<string, Promise<V>>();

  return {
    async get(key, read) {
      const entry = entries.get(key);
      if (entry) {
        entries.delete(key);
        if (entry.expires > now()) {
          entries.set(key, entry); // most recently used goes last
          onResult?.('hit');
          return entry.value;
        }
      }
      onResult?.('miss');
      let p = pending.get(key);
      if (!p) {
        p = read()
          .then((value) => {
            if (ttlMs > 0) {
              entries.set(key, { value, expires: now() + ttlMs });
              if (entries.size > max) entries.delete(entries.keys().next().value as string);
            }
            return value;
          })
          .finally(() => pending.delete(key));
        pending.set(key, p);
      }
      return p;
    },
    size: () => entries.size,
  };
}
