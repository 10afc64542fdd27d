import type { App } from '@s2s/store';
import { describe, expect, it } from 'vitest';
import { createAuthCache } from './cache.js';

const app = (id: string): App => ({ id, name: id, status: 'active', mode: 'pure', ddlEnabled: false });

describe('auth cache', () => {
  it('reuses a result for the TTL, then asks again (a disabled app stops within the TTL)', async () => {
    let now = 0;
    const calls: string[] = [];
    let status: App['status'] = 'active';
    const cache = createAuthCache(
      async (key) => {
        calls.push(key);
        return { ...app('a'), status };
      },
      { ttlMs: 5000, max: 10, now: () => now },
    );
    expect((await cache.get('k1'))?.status).toBe('active');
    status = 'disabled';
    now = 4999;
    expect((await cache.get('k1'))?.status).toBe('active');
    now = 5000;
    expect((await cache.get('k1'))?.status).toBe('disabled');
    expect(calls).toEqual(['k1', 'k1']);
  });

  it('caches unknown keys, shares concurrent lookups, evicts the least recently used, and never caches a failure', async () => {
    let calls = 0;
    let fail = false;
    const cache = createAuthCache(
      async (key) => {
        calls++;
        if (fail) throw new Error('postgres down');
        return key.startsWith('good') ? app(key) : undefined;
      },
      { ttlMs: 60_000, max: 2 },
    );
    const [a, b] = await Promise.all([cache.get('good-1'), cache.get('good-1')]);
    expect(a?.id).toBe('good-1');
    expect(b).toBe(a);
    expect(calls).toBe(1);
    expect(await cache.get('bad')).toBeUndefined();
    expect(await cache.get('bad')).toBeUndefined();
    expect(calls).toBe(2);
    await cache.get('good-2'); // evicts good-1 (least recently used)
    expect(cache.size()).toBe(2);
    await cache.get('good-1');
    expect(calls).toBe(4);
    fail = true;
    await expect(cache.get('good-3')).rejects.toThrow('postgres down');
    fail = false;
    expect((await cache.get('good-3'))?.id).toBe('good-3');
  });

  it('keeps nothing with ttl 0', async () => {
    let calls = 0;
    const cache = createAuthCache(async () => void calls++ as undefined, { ttlMs: 0, max: 10 });
    await cache.get('k');
    await cache.get('k');
    expect(calls).toBe(2);
    expect(cache.size()).toBe(0);
  });
});
