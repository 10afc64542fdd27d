import { exampleIosSession } from '@s2s/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PartnerCaller } from '../../services/worker/src/partners.js';
import { waitFor } from '../support/index.js';
import { APP_ID, createHarness, type Harness, ingest } from './support.js';

describe('worker: liveness', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => h?.cleanup());

  it('gives up (fatal, so the supervisor restarts it) when a record stays unfinished past the stall timeout', async () => {
    // A partner client that never returns, ignoring its own deadline: the lane is stuck for good.
    const hung: PartnerCaller = { call: () => new Promise(() => {}), close: async () => {} };
    const fatal: string[] = [];
    await h.startWorker(
      { STALL_TIMEOUT_MS: '2500', PARTNER_TIMEOUT_MS: '500', LEASE_MARGIN_MS: '500' },
      { partners: hung, onFatal: (reason) => fatal.push(reason) },
    );
    await h.produce([ingest(exampleIosSession(31_001, APP_ID))]);
    const reason = await waitFor(() => fatal[0], { what: 'the watchdog to fire', timeoutMs: 15_000 });
    expect(reason).toMatch(/^partition \d+: a record unfinished for [23] s$/);
  });
});
