import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, deviceRowCount, rowLockWaiters, type TestSchema, waitFor } from '../../../test/support/index.js';
import type { IntakeInput, PlanningState } from './devices.js';
import { createHeldIntake, type HeldIntake } from './held-intake.js';
import { createLedger, type NewLedgerRow } from './ledger.js';
import { createPrivacyRepo } from './privacy.js';
import { createWorkerBatches } from './worker-batch.js';

const APP = 'app-held';
const LEASE_MS = 30_000;

function input(deviceKey: string, n: number, ids: Record<string, string> = { aifa: `aifa-${deviceKey}` }): IntakeInput {
  return {
    appId: APP,
    deviceKey,
    idemKey: `${deviceKey}-${n}`,
    platform: 'Android',
    kind: n === 0 ? 'session' : 'event',
    recordTimeMs: 1_000_000 + n * 1000,
    receivedAtMs: Date.now(),
    identifiers: ids,
    consent: n === 0 ? { limitDataSharing: false } : {},
    requestId: `0193a000-0000-7000-8000-${String(n).padStart(12, '0')}`,
  };
}

/** One Singular row per record; the state it was planned against is kept, to check what planning saw. */
const seen: PlanningState[] = [];
const plan = (i: IntakeInput, device: PlanningState): NewLedgerRow[] => {
  seen.push({ lastActivityMs: device.lastActivityMs, firstSessionMs: device.firstSessionMs });
  return [
    {
      appId: i.appId,
      partner: 'singular',
      idemKey: i.idemKey,
      requestId: i.requestId as string,
      deviceKey: i.deviceKey,
      state: 'ready',
      plan: { install: false },
    },
  ];
};

let db: TestSchema;
beforeAll(async () => {
  db = await createTestSchema();
});
afterAll(async () => db?.cleanup());

describe('held intake: one statement for devices the worker holds (real Postgres)', () => {
  /** A device taken in by the full intake (its first record), and the state the worker then holds. */
  const known = async (deviceKey: string) => {
    const { held } = await createWorkerBatches(db.pool).intakeHolding([input(deviceKey, 0)], plan);
    const state = held.get(`${APP}\u0000${deviceKey}`);
    expect(state).toMatchObject({ lastActivityMs: 1_000_000, firstSessionMs: 1_000_000 });
    return state as NonNullable<typeof state>;
  };
  const count = (table: string, deviceKey: string) => deviceRowCount(db.pool, table, APP, deviceKey);

  it('plans against the held state, writes the records, claims a row and answers with its send context', async () => {
    const device = 'a'.repeat(32);
    const held = await known(device);
    await db.pool.query(
      `INSERT INTO device_identifiers (app_id, device_key, kind, value) VALUES ($1, $2, 'oaid', 'oaid-graph')`,
      [APP, device],
    );
    seen.length = 0;
    const one: HeldIntake = {
      held,
      inputs: [input(device, 1), input(device, 2, { aifa: `aifa-${device}`, amid: 'amid-new' })],
      plan,
      claim: (i) => (i.idemKey.endsWith('-1') ? 'w1:claim' : undefined),
    };
    const [result] = await createHeldIntake(db.pool).intake([one], LEASE_MS);

    if (!result?.applied) throw new Error('not applied');
    // Each record planned against the state the one before left.
    expect(seen).toEqual([
      { lastActivityMs: 1_000_000, firstSessionMs: 1_000_000 },
      { lastActivityMs: 1_001_000, firstSessionMs: 1_000_000 },
    ]);
    expect(result.held).toMatchObject({ lastActivityMs: 1_002_000, firstSessionMs: 1_000_000 });
    expect(result.held.seq).not.toBe(held.seq);
    expect(result.results.map((r) => r.duplicate)).toEqual([false, false]);
    expect(result.claims[1]).toEqual([]);
    expect(result.claims[0]).toEqual([
      {
        partner: 'singular',
        owner: 'w1:claim',
        claimed: {
          plan: { install: false },
          // The graph's own identifier, the batch's identifiers over it, and the consent the session recorded.
          context: {
            erased: false,
            limitDataSharing: false,
            identifiers: { oaid: 'oaid-graph', aifa: `aifa-${device}`, amid: 'amid-new' },
          },
        },
      },
    ]);
    const ledger = createLedger(db.pool);
    expect(await ledger.get({ appId: APP, partner: 'singular', idemKey: `${device}-1` })).toMatchObject({
      state: 'pending',
      leaseOwner: 'w1:claim',
      attempts: 1,
    });
    expect(await ledger.get({ appId: APP, partner: 'singular', idemKey: `${device}-2` })).toMatchObject({
      state: 'ready',
      leaseOwner: null,
    });
    const { rows } = await db.pool.query(
      'SELECT last_activity_ms::int AS at FROM devices WHERE app_id = $1 AND device_key = $2',
      [APP, device],
    );
    expect(rows).toEqual([{ at: 1_002_000 }]);
    expect(await count('device_identifiers', device)).toBe(3);
    expect(await count('device_identifier_changes', device)).toBe(0);
  });

  it('writes nothing of a device whose row moved on, or that sends a key the ledger has, or that was erased', async () => {
    const intake = createHeldIntake(db.pool);
    const [moved, repeated, erased] = ['b', 'c', 'd'].map((c) => c.repeat(32)) as [string, string, string];
    const heldMoved = await known(moved);
    const heldRepeated = await known(repeated);
    const heldErased = await known(erased);
    // Another intake of the device (a second worker, in a rebalance) moved its version on.
    await createWorkerBatches(db.pool).intake([input(moved, 5)], plan);
    await createPrivacyRepo(db.pool).erase({ appId: APP, device: erased, requestedBy: 'test' });

    const results = await intake.intake(
      [
        { held: heldMoved, inputs: [input(moved, 6)], plan },
        // A redelivery of the first record next to a new one.
        { held: heldRepeated, inputs: [input(repeated, 0), input(repeated, 1)], plan },
        { held: heldErased, inputs: [input(erased, 1)], plan },
      ],
      LEASE_MS,
    );
    expect(results).toEqual([{ applied: false }, { applied: false }, { applied: false }]);
    expect(await count('ledger', moved)).toBe(2);
    expect(await count('ledger', repeated)).toBe(1);
    expect(await count('devices', erased)).toBe(0);
    expect(await count('device_identifiers', erased)).toBe(0);
  });

  it('locks device rows in key order, so that it never deadlocks with a final transition', async () => {
    const wb = createWorkerBatches(db.pool);
    // Key order: first < second. The held intake gets them the other way round.
    const [first, second] = ['h'.repeat(32), 'i'.repeat(32)] as [string, string];
    const heldFirst = await known(first);
    const heldSecond = await known(second);
    const claimed = [first, second].map((d) => ({
      appId: APP,
      partner: 'singular' as const,
      idemKey: `${d}-0`,
      owner: 'w1',
      deviceKey: d,
      receivedAtMs: Date.now(),
    }));
    await wb.claimReady(claimed, LEASE_MS);
    const waiting = () => rowLockWaiters(db.pool);
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM devices WHERE app_id = $1 AND device_key = $2 FOR UPDATE', [APP, first]);
      // The sessions' final transition locks both rows (first, then second) and queues on the first.
      const finishing = wb.finish(
        claimed.map((c, n) => ({
          appId: c.appId,
          partner: c.partner,
          idemKey: c.idemKey,
          deviceKey: c.deviceKey,
          state: 'sent' as const,
          reply: {
            requestId: `0193a000-0000-7000-8000-00000000000${n}`,
            appId: APP,
            deviceKey: c.deviceKey,
            partner: 'singular' as const,
            outcome: 'forwarded' as const,
            atMs: Date.now(),
            inDoubt: false,
          },
          owner: 'w1',
          sessionForwarded: true,
          installed: false,
        })),
        LEASE_MS,
      );
      await waitFor(async () => (await waiting()) >= 1, { what: 'the final transition waiting', intervalMs: 10 });
      const intaking = createHeldIntake(db.pool).intake(
        [
          { held: heldSecond, inputs: [input(second, 1)], plan },
          { held: heldFirst, inputs: [input(first, 1)], plan },
        ],
        LEASE_MS,
      );
      await waitFor(async () => (await waiting()) >= 2, { what: 'the held intake waiting', intervalMs: 10 });
      await holder.query('COMMIT');
      // Had the intake taken the second row first, the final transition (holding the first, wanting
      // the second) and it would each wait for the other: Postgres would abort one as a deadlock.
      await finishing;
      expect((await intaking).map((r) => r.applied)).toEqual([true, true]);
    } finally {
      holder.release();
    }
  });

  it('writes nothing when an erasure holds the device row first, and waits for it', async () => {
    const device = 'e'.repeat(32);
    const held = await known(device);
    const holder = await db.pool.connect();
    try {
      // What an erasure does: lock the row, delete the graph, commit.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM devices WHERE app_id = $1 AND device_key = $2 FOR UPDATE', [APP, device]);
      const pending = createHeldIntake(db.pool).intake([{ held, inputs: [input(device, 1)], plan }], LEASE_MS);
      await waitFor(async () => (await rowLockWaiters(db.pool)) >= 1, {
        what: 'the held intake waiting for the row',
        intervalMs: 10,
      });
      await holder.query('DELETE FROM device_identifiers WHERE app_id = $1 AND device_key = $2', [APP, device]);
      await holder.query('DELETE FROM devices WHERE app_id = $1 AND device_key = $2', [APP, device]);
      await holder.query('COMMIT');
      expect(await pending).toEqual([{ applied: false }]);
    } finally {
      holder.release();
    }
    expect(await count('devices', device)).toBe(0);
    expect(await count('device_identifiers', device)).toBe(0);
    expect(await count('ledger', device)).toBe(1);
  });
});
