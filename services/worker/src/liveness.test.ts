import type { ConsumerStats, OrderedConsumer } from '@s2s/bus';
import { describe, expect, it } from 'vitest';
import { startWatchdog } from './liveness.js';

function fakeConsumer(stats: () => ConsumerStats): OrderedConsumer {
  return { stats } as unknown as OrderedConsumer;
}

describe('liveness watchdog', () => {
  const base: ConsumerStats = { joined: true, generation: 1, lastFetchAtMs: 0, partitions: [] };

  it('fires once when fetching has stopped for longer than the stall timeout', async () => {
    let now = 1_000_000;
    const reasons: string[] = [];
    const w = startWatchdog({
      consumer: fakeConsumer(() => ({ ...base, lastFetchAtMs: 1_000_000 })),
      stallTimeoutMs: 5_000,
      onStall: (r) => reasons.push(r),
      now: () => now,
      intervalMs: 5,
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(reasons).toEqual([]);
    now += 6_000;
    await new Promise((r) => setTimeout(r, 30));
    w.stop();
    expect(reasons).toEqual(['no fetch for 6 s (consumer stopped, rebalance loop or broker lost)']);
  });

  it('fires when a record stays unfinished, or the worker is out of the group, too long', async () => {
    const now = 2_000_000;
    const stuck: string[] = [];
    const a = startWatchdog({
      consumer: fakeConsumer(() => ({
        ...base,
        lastFetchAtMs: now,
        partitions: [
          { partition: 3, committable: 10, committed: 10, inFlight: 1, highWatermark: 11, lag: 1, oldestInFlightMs: 9_000 },
        ],
      })),
      stallTimeoutMs: 5_000,
      onStall: (r) => stuck.push(r),
      now: () => now,
      intervalMs: 5,
    });
    let t = now;
    const out: string[] = [];
    const b = startWatchdog({
      consumer: fakeConsumer(() => ({ ...base, joined: false, lastFetchAtMs: t })),
      stallTimeoutMs: 5_000,
      onStall: (r) => out.push(r),
      now: () => t,
      intervalMs: 5,
    });
    t += 7_000;
    await new Promise((r) => setTimeout(r, 30));
    a.stop();
    b.stop();
    expect(stuck).toEqual(['partition 3: a record unfinished for 9 s']);
    expect(out).toEqual(['not a member of the consumer group for 7 s']);
  });
});
