import { describe, expect, it } from 'vitest';
import { createReadCache } from './read-cache.js';

describe('read cache', () => {
  it('reads a key once for look-ups that arrive while the read runs, and again after the TTL', async () => {
    let clock = 0;
    const reads: string[] = [];
    const cache = createReadCache<{ id: string; read: number }>({ ttlMs: 1_000, now: () => clock });
    const get = (id: string) =>
      cache.get(id, async () => {
        const read = reads.push(id);
        await new Promise((r) => setTimeout(r, 5));
        return { id, read };
      });
    const first = await Promise.all(Array.from({ length: 20 }, () => get('a')));
    expect(reads).toEqual(['a']);
    expect(new Set(first.map((a) => a?.read))).toEqual(new Set([1]));

    clock = 999;
    expect((await get('a'))?.read).toBe(1);
    clock = 1_000;
    const refreshed = await Promise.all([get('a'), get('a'), get('b')]);
    expect(reads).toEqual(['a', 'a', 'b']);
    expect(refreshed.map((a) => a?.read)).toEqual([2, 2, 3]);
  });

  it('does not keep a failed read: the next look-up reads again', async () => {
    let fail = true;
    let reads = 0;
    const cache = createReadCache<{ id: string }>({ ttlMs: 60_000 });
    const get = (id: string) =>
      cache.get(id, async () => {
        reads++;
        if (fail) throw new Error('connection refused');
        return { id };
      });
    await expect(get('a')).rejects.toThrow('connection refused');
    fail = false;
    await expect(get('a')).resolves.toEqual({ id: 'a' });
    expect(reads).toBe(2);
  });

  it('caches nothing found (undefined) like a value', async () => {
    let reads = 0;
    const cache = createReadCache<undefined>({ ttlMs: 60_000 });
    const get = (id: string) =>
      cache.get(id, async () => {
        reads++;
        return undefined;
      });
    expect(await get('nope')).toBeUndefined();
    expect(await get('nope')).toBeUndefined();
    expect(reads).toBe(1);
  });
});
