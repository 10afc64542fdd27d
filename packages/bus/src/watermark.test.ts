import { describe, expect, it } from 'vitest';
import { PartitionWatermark } from './watermark.js';

describe('PartitionWatermark', () => {
  it('commits only the contiguous prefix of finished records, whatever order they finish in', () => {
    const w = new PartitionWatermark();
    expect(w.committable).toBeUndefined();
    for (const o of [10, 11, 12, 14]) w.track(o);
    expect(w.committable).toBe(10);
    w.finish(12);
    w.finish(14);
    expect(w.committable).toBe(10);
    expect(w.inFlight).toBe(2);
    w.finish(10);
    expect(w.committable).toBe(11);
    w.finish(11);
    // Everything handed out is finished: commit past the last one (the gap at 13 was never handed out).
    expect(w.committable).toBe(15);
    expect(w.inFlight).toBe(0);
    expect(w.oldestSince).toBeUndefined();
  });

  it('refuses offsets out of order and ignores unknown finishes', () => {
    const w = new PartitionWatermark();
    w.track(5);
    expect(() => w.track(5)).toThrow(/out of order/);
    w.finish(99);
    expect(w.committable).toBe(5);
  });

  it('wakes waiters when a record finishes', async () => {
    const w = new PartitionWatermark();
    w.track(1);
    const changed = w.changed();
    w.finish(1);
    await expect(changed).resolves.toBeUndefined();
  });
});
