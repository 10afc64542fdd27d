/**
 * Liveness: a worker that has stopped making progress exits non-zero (its supervisor restarts it)
 * instead of staying up idle. Three signs, checked every second:
 * - kafkajs has not started a fetch for STALL_TIMEOUT_MS (crashed consumer, rebalance loop, lost broker);
 * - the worker has not been a member of the group for STALL_TIMEOUT_MS;
 * - a record has stayed unfinished for STALL_TIMEOUT_MS (a lane stuck beyond any lease or retry budget).
 * A kafkajs crash (restart disabled) is reported at once through the consumer's onCrash.
 */
import type { OrderedConsumer } from '@s2s/bus';

export interface Watchdog {
  stop(): void;
}

export function startWatchdog(o: {
  consumer: OrderedConsumer;
  stallTimeoutMs: number;
  onStall: (reason: string) => void;
  now?: () => number;
  intervalMs?: number;
}): Watchdog {
  const now = o.now ?? Date.now;
  const startedAt = now();
  let lastJoinedAt = startedAt;
  let fired = false;
  const timer = setInterval(() => {
    if (fired) return;
    const t = now();
    const s = o.consumer.stats();
    let reason: string | undefined;
    if (s.joined) lastJoinedAt = t;
    else if (t - lastJoinedAt > o.stallTimeoutMs)
      reason = `not a member of the consumer group for ${Math.round((t - lastJoinedAt) / 1000)} s`;
    const lastFetch = s.lastFetchAtMs || startedAt;
    if (!reason && t - lastFetch > o.stallTimeoutMs)
      reason = `no fetch for ${Math.round((t - lastFetch) / 1000)} s (consumer stopped, rebalance loop or broker lost)`;
    if (!reason)
      for (const p of s.partitions)
        if ((p.oldestInFlightMs ?? 0) > o.stallTimeoutMs) {
          reason = `partition ${p.partition}: a record unfinished for ${Math.round((p.oldestInFlightMs ?? 0) / 1000)} s`;
          break;
        }
    if (reason) {
      fired = true;
      o.onStall(reason);
    }
  }, o.intervalMs ?? 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
