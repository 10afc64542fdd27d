import { exampleEvent, exampleIosSession, type IngestMessage } from '@s2s/contracts';
import type { App, DeviceState } from '@s2s/store';
import { describe, expect, it } from 'vitest';
import { backoffMs } from './lanes/send.js';
import { identifiersOf, planRecord } from './rules.js';

const app: App = {
  id: 'demo',
  name: 'demo',
  status: 'active',
  mode: 'pure',
  ddlEnabled: true,
  singular: { sdkKey: 'k' },
  oath: { dataProviderId: 'dp', hmacKey: 'h' },
  onside: { enabled: true },
};
const T = 1_763_800_000_000;
const fresh: DeviceState = {
  appId: 'demo',
  deviceKey: 'd',
  platform: 'iOS',
  lastActivityMs: null,
  firstSessionMs: null,
  sessionForwardedAt: null,
  installs: {},
};
const msg = (record: IngestMessage['record'], kind: 'session' | 'event', atMs = T): IngestMessage =>
  ({
    requestId: 'r',
    idempotencyKey: 'k',
    bodyHash: 'h',
    appId: 'demo',
    deviceKey: 'd',
    receivedAtMs: atMs,
    kind,
    record,
  }) as IngestMessage;
const session = (over: Record<string, unknown> = {}) => {
  const { install: _omit, ...s } = exampleIosSession(1);
  return { ...s, ...over } as IngestMessage['record'];
};
const S = { sessionTimeoutMs: 60_000 };

describe('partner rules', () => {
  it('sends a first session as the install to Singular, Oath and Onside (iOS)', () => {
    const rows = planRecord(msg(session(), 'session'), app, fresh, S);
    expect(rows.map((r) => [r.partner, r.state, r.plan.install])).toEqual([
      ['singular', 'ready', true],
      ['oath', 'ready', true],
      ['onside', 'ready', true],
    ]);
  });

  it('takes the client install flag over the device graph, and skips Onside on Android or without Onside', () => {
    const seen = { ...fresh, firstSessionMs: T - 600_000, lastActivityMs: T - 600_000 };
    expect(planRecord(msg(session({ install: true }), 'session'), app, seen, S).map((r) => r.partner)).toEqual([
      'singular',
      'oath',
      'onside',
    ]);
    expect(planRecord(msg(session(), 'session'), app, seen, S).map((r) => [r.partner, r.plan.install])).toEqual([
      ['singular', false],
    ]);
    const { onside: _o, ...noOnside } = app;
    expect(planRecord(msg(session(), 'session'), noOnside, fresh, S).map((r) => r.partner)).toEqual(['singular', 'oath']);
    // Onside needs the record's Onside token.
    expect(planRecord(msg(session({ onside: undefined }), 'session'), app, fresh, S).map((r) => r.partner)).toEqual([
      'singular',
      'oath',
    ]);
  });

  it('does not send a session again within the timeout of the last activity, unless it opens a deep link', () => {
    const active = { ...fresh, firstSessionMs: T - 100_000, lastActivityMs: T - 30_000 };
    const [within] = planRecord(msg(session(), 'session'), app, active, S);
    expect(within).toMatchObject({ state: 'skipped', plan: { reason: 'session_timeout' } });
    const [deepLink] = planRecord(msg(session({ openUri: 'myapp://promo' }), 'session'), app, active, S);
    expect(deepLink?.state).toBe('ready');
    const [after] = planRecord(msg(session(), 'session', T + 31_000), app, active, S);
    expect(after?.state).toBe('ready');
  });

  it('sends events to Singular only, and lists every identifier for the device graph', () => {
    const e = exampleEvent(exampleIosSession(1), 'x');
    expect(planRecord(msg(e, 'event'), app, fresh, S).map((r) => r.partner)).toEqual(['singular']);
    expect(identifiersOf(msg({ ...e, customUserId: 'u1' }, 'event'))).toEqual({ idfv: e.ids.idfv, custom_user_id: 'u1' });
  });

  it('in a hybrid app, skips Singular sessions (the SDK sends them) but still sends Oath and Onside installs', () => {
    const hybrid: App = { ...app, mode: 'hybrid' };
    expect(planRecord(msg(session(), 'session'), hybrid, fresh, S).map((r) => [r.partner, r.state, r.plan])).toEqual([
      ['singular', 'skipped', { install: true, reason: 'hybrid' }],
      ['oath', 'ready', { install: true }],
      ['onside', 'ready', { install: true }],
    ]);
    const e = exampleEvent(exampleIosSession(1), 'x');
    expect(planRecord(msg(e, 'event'), hybrid, fresh, S).map((r) => [r.partner, r.state])).toEqual([['singular', 'ready']]);
  });

  it('backs off exponentially with jitter, honouring Retry-After up to the cap', () => {
    expect(backoffMs(1, 100, 1000, undefined, () => 0)).toBe(50);
    expect(backoffMs(3, 100, 1000, undefined, () => 1)).toBe(400);
    expect(backoffMs(10, 100, 1000, undefined, () => 1)).toBe(1000);
    expect(backoffMs(1, 100, 1000, 5000, () => 0)).toBe(1000);
  });
});
