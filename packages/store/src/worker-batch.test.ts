import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestSchema,
  deviceRowCount,
  type PlanNode,
  rowLockWaiters,
  rowsRead,
  type TestSchema,
  waitFor,
} from '../../../test/support/index.js';
import type { IntakeInput } from './devices.js';
import type { NewLedgerRow } from './ledger.js';
import { createPrivacyRepo, lockDevices } from './privacy.js';
import { createWorkerBatches } from './worker-batch.js';

const APP = 'app-1';

function input(deviceKey: string, n: number, receivedAtMs: number): IntakeInput {
  return {
    appId: APP,
    deviceKey,
    idemKey: `${deviceKey}-${n}`,
    platform: 'Android',
    kind: n === 0 ? 'session' : 'event',
    recordTimeMs: receivedAtMs,
    receivedAtMs,
    identifiers: { aifa: `aifa-${deviceKey}` },
    consent: { limitDataSharing: false },
    requestId: `0193a000-0000-7000-8000-${String(n).padStart(12, '0')}`,
  };
}

const plan = (i: IntakeInput): NewLedgerRow[] => [
  {
    appId: i.appId,
    partner: 'singular',
    idemKey: i.idemKey,
    requestId: i.requestId as string,
    deviceKey: i.deviceKey,
    state: 'ready',
    plan: {},
  },
];

// One schema for the file: the tests use devices of their own.
let db: TestSchema;
beforeAll(async () => {
  db = await createTestSchema();
});
afterAll(async () => db?.cleanup());

describe('worker intake against erasure (real Postgres)', () => {
  const stored = async (deviceKey: string) => {
    const q = (table: string) => deviceRowCount(db.pool, table, APP, deviceKey);
    return {
      devices: await q('devices'),
      identifiers: await q('device_identifiers'),
      consent: await q('device_consent'),
      ledger: await q('ledger'),
    };
  };

  it('stores nothing of a record received before its device was erased, and plans the ones received after', async () => {
    const wb = createWorkerBatches(db.pool);
    const device = 'a'.repeat(32);
    const [first] = await wb.intake([input(device, 0, Date.now() - 1000)], plan);
    expect(first).toMatchObject({ duplicate: false, rows: [{ partner: 'singular' }] });

    await createPrivacyRepo(db.pool).erase({ appId: APP, device, requestedBy: 'test' });
    const [late] = await wb.intake([input(device, 1, Date.now() - 500)], plan);
    expect(late).toEqual({ duplicate: false, erased: true, rows: [] });
    expect(await stored(device)).toMatchObject({ devices: 0, identifiers: 0, consent: 0 });

    // A record received after the erasure is the device coming back: planned as new.
    const [back] = await wb.intake([input(device, 2, Date.now() + 1000)], plan);
    expect(back).toMatchObject({ duplicate: false, rows: [{ partner: 'singular', idemKey: `${device}-2` }] });
    expect(await stored(device)).toMatchObject({ devices: 1, identifiers: 1 });
  });

  it('waits for an erasure in progress and then stores nothing of the device (no resurrection)', async () => {
    const wb = createWorkerBatches(db.pool);
    const privacy = createPrivacyRepo(db.pool);
    const device = 'b'.repeat(32);
    await wb.intake([input(device, 0, Date.now() - 1000)], plan);
    const receivedAtMs = Date.now();

    // Hold the device's lock so that the erasure queues on it, then the intake behind the erasure.
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await lockDevices(holder, [{ appId: APP, deviceKey: device }], 'exclusive');
      const waiting = async () =>
        Number(
          (
            await db.pool.query<{ n: string }>(
              `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            )
          ).rows[0]?.n,
        );
      const erasure = privacy.erase({ appId: APP, device, requestedBy: 'test' });
      await waitFor(async () => (await waiting()) >= 1, { what: 'the erasure waiting for the lock', intervalMs: 10 });
      const intake = wb.intake([input(device, 1, receivedAtMs)], plan);
      await waitFor(async () => (await waiting()) >= 2, { what: 'the intake waiting behind the erasure', intervalMs: 10 });
      await holder.query('COMMIT');

      expect(await erasure).toHaveLength(1);
      const [result] = await intake;
      expect(result).toEqual({ duplicate: false, erased: true, rows: [] });
    } finally {
      holder.release();
    }
    expect(await stored(device)).toEqual({ devices: 0, identifiers: 0, consent: 0, ledger: 1 });
  });

  it('plans a record once when two intakes of its device run at once (a rebalance overlap)', async () => {
    const wb = createWorkerBatches(db.pool);
    const device = 'e'.repeat(32);
    await wb.intake([input(device, 0, Date.now())], plan);
    const record = input(device, 1, Date.now());

    // Hold the device's row so that both intakes queue on it, then let them go together: the one
    // that gets the row second must find the first one's plans, committed while it waited.
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM devices WHERE app_id = $1 AND device_key = $2 FOR UPDATE', [APP, device]);
      const waitingOnRow = () => rowLockWaiters(db.pool);
      const both = [wb.intake([record], plan), wb.intake([record], plan)];
      await waitFor(async () => (await waitingOnRow()) >= 2, { what: 'both intakes waiting for the row', intervalMs: 10 });
      await holder.query('COMMIT');
      const results = (await Promise.all(both)).map(([r]) => r);
      expect(results.map((r) => r?.duplicate).sort()).toEqual([false, true]);
      expect(results.map((r) => r?.rows.map((row) => row.partner))).toEqual([['singular'], ['singular']]);
      const { rows } = await db.pool.query('SELECT partner FROM ledger WHERE app_id = $1 AND idem_key = $2', [
        APP,
        `${device}-1`,
      ]);
      expect(rows).toEqual([{ partner: 'singular' }]);
    } finally {
      holder.release();
    }
  });
});

describe('worker intake: claims for a device it creates (real Postgres)', () => {
  it("claims a new device's rows with the batch's own send context, and never an existing device's", async () => {
    const wb = createWorkerBatches(db.pool);
    const [fresh, known] = ['f'.repeat(32), 'g'.repeat(32)];
    await wb.intake([input(known, 0, Date.now())], plan);
    const asked: string[] = [];
    const claims = {
      claim: (i: IntakeInput) => {
        asked.push(i.idemKey);
        return `w1:${i.idemKey}`;
      },
      leaseMs: 30_000,
    };
    const out = await wb.intakeHolding([input(fresh, 0, Date.now()), input(known, 1, Date.now())], plan, claims);

    expect(asked).toEqual([`${fresh}-0`]);
    expect([...out.created]).toEqual([`${APP}\u0000${fresh}`]);
    expect(out.claims).toEqual([
      [
        {
          partner: 'singular',
          owner: `w1:${fresh}-0`,
          claimed: { plan: {}, context: { erased: false, limitDataSharing: false, identifiers: { aifa: `aifa-${fresh}` } } },
        },
      ],
      [],
    ]);
    const states = await db.pool.query<{ idem_key: string; state: string; lease_owner: string | null; attempts: number }>(
      'SELECT idem_key, state, lease_owner, attempts FROM ledger WHERE app_id = $1 AND idem_key = ANY($2) ORDER BY idem_key',
      [APP, [`${fresh}-0`, `${known}-1`]],
    );
    expect(states.rows).toEqual([
      { idem_key: `${fresh}-0`, state: 'pending', lease_owner: `w1:${fresh}-0`, attempts: 1 },
      { idem_key: `${known}-1`, state: 'ready', lease_owner: null, attempts: 0 },
    ]);
    // Both devices' state is held for their next intake, each with its own new version.
    expect(out.held.get(`${APP}\u0000${fresh}`)?.seq).toBeDefined();
    expect(out.held.get(`${APP}\u0000${known}`)?.seq).not.toBe(out.held.get(`${APP}\u0000${fresh}`)?.seq);
  });
});

describe('worker intake: identifier look-ups (real Postgres)', () => {
  it("reads only the incoming devices' identifiers, however many devices the app already has", async () => {
    // 5,000 devices already known, in a table without statistics yet (as in a deployment's first minutes).
    await db.pool.query(
      `INSERT INTO device_identifiers (app_id, device_key, kind, value)
       SELECT $1, 'known-' || g, 'aifa', 'aifa-known-' || g FROM generate_series(1, 5000) AS g`,
      [APP],
    );
    // The intake's identifier statement, run once under EXPLAIN ANALYZE (in a savepoint rolled back),
    // then for real.
    const plans: PlanNode[] = [];
    const client = await db.pool.connect();
    const query = client.query.bind(client) as (config: unknown, values?: unknown) => Promise<unknown>;
    const spy = Object.assign(Object.create(client) as pg.PoolClient, {
      async query(config: unknown, values?: unknown) {
        const { text, values: args } =
          typeof config === 'string' ? { text: config, values } : (config as { text?: string; values?: unknown });
        if (text?.includes('INSERT INTO device_identifier_changes')) {
          await query('SAVEPOINT probe');
          const { rows } = (await query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, args)) as {
            rows: { 'QUERY PLAN': { Plan: PlanNode }[] }[];
          };
          plans.push((rows[0]?.['QUERY PLAN'][0] as { Plan: PlanNode }).Plan);
          await query('ROLLBACK TO SAVEPOINT probe');
        }
        return query(config, values);
      },
      release: () => client.release(),
    });
    const pool = { connect: async () => spy } as unknown as pg.Pool;

    const devices = ['c'.repeat(32), 'd'.repeat(32)];
    const results = await createWorkerBatches(pool).intake(
      devices.map((d, n) => input(d, n, Date.now())),
      plan,
    );
    expect(results.map((r) => r.duplicate)).toEqual([false, false]);
    expect(plans).toHaveLength(1);
    // Two incoming identifiers: a handful of rows at most, not the 5,000 other devices' ones.
    expect(rowsRead(plans[0] as PlanNode, 'device_identifiers')).toBeLessThan(50);
  });
});
