import { exampleEvent, exampleIosSession } from '@s2s/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/index.js';
import { APP_ID, createHarness, type Harness, ingest, singularSequence } from './support.js';

describe('worker: a failing device is parked, the others flow', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => h?.cleanup());

  it('keeps other devices and other partners moving while one device is parked, then delivers it in order', async () => {
    const sessions = Array.from({ length: 12 }, (_, i) => exampleIosSession(9100 + i, APP_ID));
    const failing = sessions[0]!;
    const failingId = failing.ids.idfv as string;
    await h.sandbox.fault({ partner: 'singular', kind: 'error', status: 503, device: failingId });
    await h.startWorker();
    const messages = sessions.map((s) => [s, ...[1, 2, 3].map((i) => exampleEvent(s, `ev_${i}`))].map((r) => ingest(r)));
    const failingSession = messages[0]![0]!;
    // The failing device first: its Singular lane fails, retries a little, then parks.
    await h.produce(messages[0]!);
    await waitFor(async () => (await h.db.pool.query('SELECT 1 FROM parked_lanes')).rowCount === 1, {
      what: 'the failing device’s lane parked',
    });
    await h.produce(messages.slice(1).flat());

    const ok = async (device?: string) =>
      (await h.sandbox.requests(device ? { device } : {})).filter((e) => e.status === 200 && !e.path.endsWith('jwks.json'));
    let last = '';
    // Healthy devices: 11 × 4 Singular requests; the failing device's install still reaches Oath and Onside.
    await waitFor(
      async () => {
        const all = await ok();
        const healthy = all.filter((e) => e.partner === 'singular');
        const { rows } = await h.db.pool.query(
          "SELECT partner FROM request_outcomes WHERE request_id = $1 AND outcome = 'forwarded' ORDER BY partner",
          [failingSession.requestId],
        );
        last = `${healthy.length} healthy, failing device's others: ${rows.map((r) => r.partner).join()}`;
        return healthy.length === 11 * 4 && rows.map((r) => r.partner).join() === 'oath,onside';
      },
      { what: 'healthy devices and the failing device’s other partners' },
    ).catch((err) => {
      throw new Error(`${err.message} (last: ${last})`);
    });
    // Measured while they flowed: the failing device's Singular lane is parked, nothing of it got through.
    const parked = await h.db.pool.query('SELECT device_key, partner, attempts FROM parked_lanes');
    expect(parked.rows).toHaveLength(1);
    expect(parked.rows[0].partner).toBe('singular');
    expect(singularSequence(await ok(failingId))).toEqual([]);
    // Its session and the 3 events behind it wait durably in Postgres (so the offset could move on).
    await waitFor(async () => (await h.db.pool.query('SELECT count(*)::int AS n FROM parked_records')).rows[0].n === 4, {
      what: 'the failing device’s 4 records parked',
    });
    expect(singularSequence(await ok(failingId))).toEqual([]);
    for (const s of sessions.slice(1))
      expect(singularSequence(await ok(s.ids.idfv as string))).toEqual(['launch', 'ev_1', 'ev_2', 'ev_3']);

    // The partner recovers: the scheduler resumes the lane; everything arrives, in order, once.
    await h.sandbox.clearFaults();
    const seq = await waitFor(
      async () => {
        const got = singularSequence(await ok(failingId));
        return got.length >= 4 && got;
      },
      { what: 'the parked device delivered' },
    );
    expect(seq).toEqual(['launch', 'ev_1', 'ev_2', 'ev_3']);
    await waitFor(async () => (await h.db.pool.query('SELECT 1 FROM parked_lanes')).rowCount === 0, { what: 'lane unparked' });
    expect((await h.db.pool.query('SELECT 1 FROM parked_records')).rowCount).toBe(0);
    const outcomes = await h.db.pool.query('SELECT outcome, count(*)::int AS n FROM request_outcomes GROUP BY outcome');
    expect(outcomes.rows).toEqual([{ outcome: 'forwarded', n: 12 * 4 + 12 * 2 }]);
  });
});
