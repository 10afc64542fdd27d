import { describe, expect, it } from 'vitest';
import { createGroupCommit } from './group-commit.js';

const turn = () => new Promise((r) => setImmediate(r));

describe('group commit', () => {
  it('sends the first item at once and groups what arrives while a batch is in flight', async () => {
    const batches: number[][] = [];
    let release: () => void = () => {};
    const sizes: number[] = [];
    const c = createGroupCommit(
      async (items: number[]) => {
        batches.push(items);
        if (batches.length === 1)
          await new Promise<void>((r) => {
            release = r;
          });
        return items.map((i) => i * 10);
      },
      { maxConcurrent: 1, maxBatch: 100, observe: (size) => sizes.push(size) },
    );
    const first = c.submit(1);
    await turn();
    const rest = [2, 3, 4].map((i) => c.submit(i));
    expect(c.pending()).toBe(4);
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    await c.drain();
    expect(c.pending()).toBe(0);
    expect(sizes).toEqual([1, 3]);
  });

  it('splits batches at maxBatch and never puts one key twice in a batch', async () => {
    const batches: string[][] = [];
    const c = createGroupCommit(
      async (items: string[]) => {
        batches.push(items);
        return items.map((i) => i.toUpperCase());
      },
      { maxConcurrent: 1, maxBatch: 3, key: (i) => i.slice(0, 1) },
    );
    const out = await c.submitAll(['a1', 'b1', 'a2', 'c1', 'd1', 'a3']);
    expect(out).toEqual(['A1', 'B1', 'A2', 'C1', 'D1', 'A3']);
    // Queue order is kept within each key: a2 after a1, a3 after a2.
    expect(batches).toEqual([['a1', 'b1', 'c1'], ['a2', 'd1'], ['a3']]);
  });

  it('rejects every item of a failed or malformed batch and keeps serving later ones', async () => {
    let mode: 'throw' | 'short' | 'ok' = 'throw';
    const c = createGroupCommit(async (items: string[]) => {
      if (mode === 'throw') throw new Error('down');
      return mode === 'short' ? items.slice(1) : items;
    });
    await expect(c.submitAll(['a', 'b'])).rejects.toThrow('down');
    mode = 'short';
    await expect(c.submitAll(['a', 'b'])).rejects.toThrow('batched call returned 1 results for 2');
    mode = 'ok';
    expect(await c.submitAll(['c', 'd'])).toEqual(['c', 'd']);
    await c.drain();
    expect(c.pending()).toBe(0);
  });
});
