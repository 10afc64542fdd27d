/**
 * Two worker processes (services/worker/src/server.ts under tsx, as `npm start` runs them), one
 * killed with SIGKILL mid-stream three times and restarted: every record reaches the sandbox, each
 * device in order, and nothing twice except calls the ledger counted as in doubt.
 */
import { groupLag } from '@s2s/bus';
import { exampleAndroidSession, exampleEvent } from '@s2s/contracts';
import { createLedger } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId, waitFor } from '../support/index.js';
import {
  APP_ID,
  createHarness,
  type Harness,
  ingest,
  singularByDevice,
  startWorkerProcess,
  type WorkerProcess,
} from './support.js';

const DEVICES = 300;
const EVENTS = 9;
const KILLS = 3;
const LANE_CONCURRENCY = 16;

describe('worker: two processes, one killed repeatedly mid-stream', () => {
  let h: Harness;
  const children: WorkerProcess[] = [];
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    for (const c of children) c.proc.kill('SIGKILL');
    await h?.cleanup();
  });

  const start = (id: string): WorkerProcess => {
    const child = startWorkerProcess(h, id, { IN_DOUBT_POLICY: 'resend', LANE_CONCURRENCY: String(LANE_CONCURRENCY) });
    children.push(child);
    return child;
  };

  it('delivers every record once and in order per device across SIGKILLs and restarts', async () => {
    // Some partner latency keeps calls in flight when the kill lands.
    await h.sandbox.fault({ partner: 'all', kind: 'latency', latencyMs: { min: 5, max: 30 } });
    const sessions = Array.from({ length: DEVICES }, (_, i) => exampleAndroidSession(20_000 + i, APP_ID));
    // Record i of every device goes out in round i: the stream interleaves devices like real traffic.
    const rounds = Array.from({ length: EVENTS + 1 }, (_, round) =>
      sessions.map((s) => ingest(round === 0 ? s : exampleEvent(s, `ev_${round}`))),
    );
    const total = DEVICES * (EVENTS + 1);
    const expectedCalls = total + DEVICES; // + one Oath install per device

    const live = [start(uniqueId('wa')), start(uniqueId('wb'))];
    const producing = (async () => {
      for (const round of rounds)
        for (let i = 0; i < round.length; i += 60) {
          await h.produce(round.slice(i, i + 60));
          await new Promise((r) => setTimeout(r, 40)); // pacing: a stream, not one burst
        }
    })();

    const okCalls = async () => (await h.sandbox.requests()).filter((e) => e.status === 200 && !e.path.endsWith('jwks.json'));
    let seen = 0;
    for (let k = 0; k < KILLS; k++) {
      const before = seen;
      seen = await waitFor(
        async () => {
          const n = (await okCalls()).length;
          return n >= before + 250 && n;
        },
        { what: `progress before kill ${k + 1}`, timeoutMs: 60_000 },
      );
      const victim = live[k % 2] as WorkerProcess;
      // Kill while the victim holds leases: calls of its own are in flight.
      await waitFor(
        async () =>
          (await h.db.pool.query("SELECT 1 FROM ledger WHERE state = 'pending' AND lease_owner LIKE $1", [`${victim.id}:%`]))
            .rowCount,
        { what: `${victim.id} to have calls in flight`, intervalMs: 5, timeoutMs: 60_000 },
      );
      victim.proc.kill('SIGKILL');
      expect(await victim.exited).toBe(null);
      live[k % 2] = start(uniqueId(`w${k}`));
    }
    await producing;

    await waitFor(async () => (await okCalls()).length >= expectedCalls, {
      what: `${expectedCalls} partner calls`,
      timeoutMs: 120_000,
      intervalMs: 500,
    }).catch((err) => {
      for (const c of children) console.error(c.id, c.output.slice(-15).join('\n'));
      throw err;
    });
    await waitFor(async () => (await groupLag(h.topics.admin, h.groupId, h.topics.names.ingest)).total === 0, {
      what: 'every record committed',
      timeoutMs: 60_000,
    });

    const calls = await okCalls();
    const inDoubt = await createLedger(h.db.pool).inDoubtTotal();
    const extra = calls.length - expectedCalls;
    console.log(`kill test: ${calls.length} partner calls for ${expectedCalls} expected, ${inDoubt} counted in doubt`);
    // Nothing twice except counted in-doubt calls; a kill leaves at most one call in flight per lane.
    expect(inDoubt).toBeGreaterThanOrEqual(KILLS);
    expect(extra).toBeLessThanOrEqual(inDoubt);
    expect(inDoubt).toBeLessThanOrEqual(KILLS * LANE_CONCURRENCY * 2);
    expect(calls.filter((e) => e.duplicate).length).toBeLessThanOrEqual(inDoubt);

    // Per device, in order: launch, then ev_1..ev_9 (an in-doubt resend sits right after its original).
    const byDevice = singularByDevice(calls);
    expect(byDevice.size).toBe(DEVICES);
    const want = ['launch', ...Array.from({ length: EVENTS }, (_, i) => `ev_${i + 1}`)];
    for (const [, seq] of byDevice) expect(seq).toEqual(want);
    const oath = new Set(calls.filter((c) => c.partner === 'oath').map((c) => c.query.mi));
    expect(oath.size).toBe(DEVICES);
  }, 240_000);
});
