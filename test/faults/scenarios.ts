/**
 * The faults, one scenario at a time: each runs while the load runs, triggered by the load's
 * progress (records accepted so far), and undoes itself before the load ends. A fault's duration
 * (how long the broker stays down, how long a partner answers 503) is part of the scenario, not a
 * synchronisation: what the test waits for afterwards is polled (`settle`).
 */
import { waitFor } from '../support/index.js';
import type { Cluster } from './cluster.js';
import type { LoadResult } from './load.js';

export const FULL = process.env.FAULTS_SCALE === 'full';

export const SCALE = FULL
  ? { durationMs: 24_000, concurrency: 10, paceMs: 40, maxDevices: 3_000, settleMs: 180_000 }
  : { durationMs: 9_000, concurrency: 8, paceMs: 40, maxDevices: 600, settleMs: 90_000 };

export interface Scenario {
  name: string;
  /** Part of the short form (`npm test`) too; every scenario runs in the full form. */
  short: boolean;
  /** Load duration when the default is too short to see the system recover (a broker restart). */
  durationMs?: number;
  inject(c: Cluster, live: LoadResult): Promise<void>;
}

const hold = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the load has `n` more records accepted than when called. */
function progress(live: LoadResult, n: number): Promise<unknown> {
  const from = live.accepted.size;
  return waitFor(() => live.accepted.size >= from + n, { what: `${n} more accepted records`, timeoutMs: 60_000 });
}

export async function faults(c: Cluster, rules: Record<string, unknown>[]): Promise<void> {
  const r = await c.sandbox.post('/_sandbox/faults', rules);
  if (r.status >= 300) throw new Error(`fault rules refused: ${await r.text()}`);
}

export async function clearFaults(c: Cluster): Promise<void> {
  await fetch(`${c.sandbox.url}/_sandbox/faults`, { method: 'DELETE' });
}

const latency = { partner: 'all', kind: 'latency', latencyMs: { min: 5, max: 30 } };

async function killWorkers(c: Cluster, live: LoadResult, kills: number): Promise<void> {
  for (let k = 0; k < kills; k++) {
    await progress(live, 150);
    await c.killWorker();
    await c.startWorker();
  }
}

async function restartKafka(c: Cluster, live: LoadResult): Promise<void> {
  await progress(live, 100);
  const t0 = Date.now();
  await c.broker.stop();
  const stopped = Date.now();
  await hold(3_000);
  await c.broker.start();
  console.log(`kafka restart: stop took ${stopped - t0} ms, down ${Date.now() - stopped} ms in all`);
  // The relay takes records again once the broker is back.
  await progress(live, 100);
}

async function cutPostgres(c: Cluster, live: LoadResult, cuts: number): Promise<void> {
  let terminated = 0;
  for (let k = 0; k < cuts; k++) {
    await progress(live, 120);
    terminated += await c.cutPostgres();
  }
  if (terminated === 0) throw new Error('cutPostgres terminated no connection: the scenario tested nothing');
}

async function killGateway(c: Cluster, live: LoadResult, kills: number): Promise<void> {
  for (let k = 0; k < kills; k++) {
    await progress(live, 200);
    await c.killGateway();
    await hold(1_000);
    await c.startGateway();
  }
}

async function partnerErrors(c: Cluster, live: LoadResult): Promise<void> {
  await progress(live, 100);
  await faults(c, [{ partner: 'singular', kind: 'error', status: [503, 500], rate: 0.4 }, latency]);
  await hold(2_500);
  await clearFaults(c);
  await faults(c, [{ partner: 'all', kind: 'error', status: [502, 503, 429], retryAfter: 1, rate: 0.3 }, latency]);
  await hold(2_500);
  await clearFaults(c);
}

async function partnerInDoubt(c: Cluster, live: LoadResult): Promise<void> {
  await progress(live, 100);
  await faults(c, [{ partner: 'singular', kind: 'timeout', rate: 0.03 }, { partner: 'oath', kind: 'drop', rate: 0.1 }, latency]);
  await hold(2_500);
  await clearFaults(c);
  await faults(c, [
    { partner: 'all', kind: 'drop', rate: 0.04, afterProcessing: true },
    { partner: 'onside', kind: 'timeout', rate: 0.1, afterProcessing: true },
    latency,
  ]);
  await hold(2_500);
  await clearFaults(c);
}

export const SCENARIOS: Scenario[] = [
  { name: 'baseline (no fault)', short: false, inject: async () => {} },
  {
    name: 'worker SIGKILL + join',
    short: true,
    async inject(c, live) {
      await faults(c, [latency]);
      await killWorkers(c, live, FULL ? 3 : 2);
      await progress(live, 100);
      await c.startWorker(); // a third joins mid-run: rebalance
      await progress(live, 150);
      await c.retireWorker(); // and one leaves (SIGTERM): back to two
    },
  },
  {
    name: 'kafka broker restart',
    short: true,
    durationMs: SCALE.durationMs + 10_000,
    inject: (c, live) => restartKafka(c, live),
  },
  { name: 'postgres connections cut', short: true, inject: (c, live) => cutPostgres(c, live, FULL ? 6 : 3) },
  { name: 'partner 5xx (singular, all)', short: true, inject: partnerErrors },
  { name: 'partner timeout/drop (in doubt)', short: true, inject: partnerInDoubt },
  { name: 'gateway SIGKILL', short: true, inject: (c, live) => killGateway(c, live, FULL ? 2 : 1) },
  {
    name: 'all combined',
    short: false,
    async inject(c, live) {
      await faults(c, [
        { partner: 'singular', kind: 'error', status: [503, 500], rate: 0.1 },
        { partner: 'all', kind: 'drop', rate: 0.01, afterProcessing: true },
        { partner: 'oath', kind: 'timeout', rate: 0.02 },
        latency,
      ]);
      await Promise.all([
        killWorkers(c, live, 2),
        cutPostgres(c, live, 3),
        (async () => {
          await progress(live, 400);
          await restartKafka(c, live);
        })(),
        (async () => {
          await progress(live, 700);
          await killGateway(c, live, 1);
        })(),
      ]);
      await clearFaults(c);
    },
  },
];

/** The scenarios of this run's size. */
export function scenariosToRun(): Scenario[] {
  return FULL ? SCENARIOS : SCENARIOS.filter((s) => s.short);
}
