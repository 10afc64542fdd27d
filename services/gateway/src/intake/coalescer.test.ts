import { describe, expect, it } from 'vitest';
import { createCoalescer } from './coalescer.js';

describe('coalescer', () => {
  it('sends the first item at once and groups what arrives while a batch is in flight', async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const c = createCoalescer(
      async (items: number[]) => {
        batches.push(items);
        if (batches.length === 1)
          await new Promise<void>((r) => {
            release = r;
          });
        return items.map((i) => i * 10);
      },
      { maxConcurrent: 1, maxBatch: 100 },
    );
    const first = c.submit(1);
    await new Promise((r) => setImmediate(r));
    const rest = [2, 3, 4].map((i) => c.submit(i));
    expect(c.pending()).toBe(4);
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    await c.drain();
    expect(c.pending()).toBe(0);
  });

  it('rejects every item of a failed batch and keeps serving later ones', async () => {
    let fail = true;
    const c = createCoalescer(async (items: string[]) => {
      if (fail) throw new Error('down');
      return items;
    });
    await expect(c.submitAll(['a', 'b'])).rejects.toThrow('down');
    fail = false;
    expect(await c.submitAll(['c', 'd'])).toEqual(['c', 'd']);
  });
});
