/**
 * The worker's app settings (integration mode, partners, keys), read from Postgres at most once per
 * app every `ttlMs`. Concurrent look-ups of the same app share one read: when an entry expires under
 * load, one query refreshes it instead of one per record that arrived meanwhile. A failed read is
 * not cached (the next look-up tries again).
 */
export interface AppCache<A> {
  get(appId: string): Promise<A | undefined>;
}

export function createAppCache<A>(
  load: (appId: string) => Promise<A | undefined>,
  ttlMs: number,
  now: () => number = Date.now,
): AppCache<A> {
  const entries = new Map<string, { app: Promise<A | undefined>; at: number }>();
  return {
    get(appId) {
      const hit = entries.get(appId);
      if (hit && now() - hit.at < ttlMs) return hit.app;
      const entry = { app: load(appId), at: now() };
      entries.set(appId, entry);
      entry.app.catch(() => {
        if (entries.get(appId) === entry) entries.delete(appId);
      });
      return entry.app;
    },
  };
}
