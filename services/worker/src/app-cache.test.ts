import { describe, expect, it } from 'vitest';
import { createAppCache } from './app-cache.js';

describe('app cache', () => {
  it('reads an app once for look-ups that arrive while the read runs, and again after the TTL', async () => {
    let clock = 0;
    const reads: string[] = [];
    const cache = createAppCache(
      async (id: string) => {
        const read = reads.push(id);
        await new Promise((r) => setTimeout(r, 5));
        return { id, read };
      },
      1_000,
      () => clock,
    );
    const first = await Promise.all(Array.from({ length: 20 }, () => cache.get('a')));
    expect(reads).toEqual(['a']);
    expect(new Set(first.map((a) => a?.read))).toEqual(new Set([1]));

    clock = 999;
    expect((await cache.get('a'))?.read).toBe(1);
    clock = 1_000;
    const refreshed = await Promise.all([cache.get('a'), cache.get('a'), cache.get('b')]);
    expect(reads).toEqual(['a', 'a', 'b']);
    expect(refreshed.map((a) => a?.read)).toEqual([2, 2, 3]);
  });

  it('does not keep a failed read: the next look-up reads again', async () => {
    let fail = true;
    let reads = 0;
    const cache = createAppCache(async (id: string) => {
      reads++;
      if (fail) throw new Error('connection refused');
      return { id };
    }, 60_000);
    await expect(cache.get('a')).rejects.toThrow('connection refused');
    fail = false;
    await expect(cache.get('a')).resolves.toEqual({ id: 'a' });
    expect(reads).toBe(2);
  });

  it('caches an unknown app (undefined) like a known one', async () => {
    let reads = 0;
    const cache = createAppCache(async () => {
      reads++;
      return undefined;
    }, 60_000);
    expect(await cache.get('nope')).toBeUndefined();
    expect(await cache.get('nope')).toBeUndefined();
    expect(reads).toBe(1);
  });
});
