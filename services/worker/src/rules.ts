/**
 * The partner rules that intake applies once per record, against the device graph as the device's
 * earlier records left it (pure functions: tested without Kafka or Postgres).
 *
 * - Singular gets every session and event; a session within the session timeout of the device's
 *   last activity is not sent again (skipped), unless it opens a deep link (`openUri`) or is an install.
 * - The install (first session: the client's `install` flag when given, else "no session seen yet")
 *   also goes to Oath when the app has Oath, and to Onside when the app has Onside, the device is
 *   iOS and the record carries its Onside token (`onside.token`, or the app's own `onside.jws`).
 * - Hybrid apps (`app.mode === 'hybrid'`): the Singular SDK on the device sends sessions to Singular
 *   itself, so the relay sends Singular events only; a session's Singular row is planned `skipped`
 *   (reason `hybrid`, answered `suppressed`). The SDK does not talk to Oath or Onside, so their
 *   install calls still go from the relay, exactly as for a pure app. Events need no session here
 *   (see lanes/run.ts): Singular has the SDK's.
 */
import type { IngestMessage, Partner } from '@s2s/contracts';
import type { App, DeviceState, NewLedgerRow, PlanningState } from '@s2s/store';

export interface RuleSettings {
  sessionTimeoutMs: number;
}

/** Device time of a record: when it happened on the device, else when the gateway accepted it. */
export function recordTimeMs(m: IngestMessage): number {
  return m.record.timestampMs ?? m.receivedAtMs;
}

export function isInstall(m: IngestMessage, device: Pick<DeviceState, 'firstSessionMs'>): boolean {
  return m.kind === 'session' && (m.record.install ?? device.firstSessionMs === null);
}

/**
 * The partners a record goes to (each gets exactly one final outcome; every reply lists them in
 * `expected`): Singular when the app forwards to Singular; on an install also Oath when set up,
 * and Onside when enabled, on iOS, for a record that carries its Onside token.
 */
export function applicablePartners(m: IngestMessage, app: App, install: boolean): Partner[] {
  const out: Partner[] = [];
  if (app.singular) out.push('singular');
  if (m.kind === 'session' && install) {
    if (app.oath) out.push('oath');
    if (app.onside && m.record.platform === 'iOS' && m.record.onside) out.push('onside');
  }
  return out;
}

/** Why a session is not sent to Singular again, if it is not. */
export function sessionSkipReason(
  m: IngestMessage,
  device: Pick<DeviceState, 'firstSessionMs' | 'lastActivityMs'>,
  install: boolean,
  s: RuleSettings,
): string | undefined {
  if (m.kind !== 'session' || install || m.record.openUri) return undefined;
  if (device.firstSessionMs === null || device.lastActivityMs === null) return undefined;
  return recordTimeMs(m) - device.lastActivityMs < s.sessionTimeoutMs ? 'session_timeout' : undefined;
}

/** Why a record is not sent to Singular, if it is not: `hybrid` (the SDK sends sessions), else the session timeout. */
export function singularSkipReason(
  m: IngestMessage,
  app: Pick<App, 'mode'>,
  device: Pick<DeviceState, 'firstSessionMs' | 'lastActivityMs'>,
  install: boolean,
  s: RuleSettings,
): string | undefined {
  if (app.mode === 'hybrid' && m.kind === 'session') return 'hybrid';
  return sessionSkipReason(m, device, install, s);
}

export function planRecord(m: IngestMessage, app: App, device: PlanningState, s: RuleSettings): NewLedgerRow[] {
  const install = isInstall(m, device);
  const skip = singularSkipReason(m, app, device, install, s);
  const base = { appId: m.appId, idemKey: m.idempotencyKey, requestId: m.requestId, deviceKey: m.deviceKey };
  return applicablePartners(m, app, install).map((partner) => ({
    ...base,
    partner,
    state: partner === 'singular' && skip ? 'skipped' : 'ready',
    plan: skip && partner === 'singular' ? { install, reason: skip } : { install },
  }));
}

/** Identifiers of a record for the device graph, by kind. */
export function identifiersOf(m: IngestMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.record.ids)) if (typeof v === 'string') out[k] = v;
  if (m.record.customUserId) out.custom_user_id = m.record.customUserId;
  return out;
}
