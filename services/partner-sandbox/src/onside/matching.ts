/**
 * Install matching (spec §3.3, S-N8), deterministic:
 * 1. Store sessions from the client IP in the 24 hours before now (later ones do not count).
 * 2. No user: organic. One user: that user.
 * 3. Several users: keep those with the same `device_model`, then `os_version`, then `language`
 *    (a criterion that keeps exactly one decides; one that keeps none means no user fits: organic),
 *    then the single closest `availableCapacity`. Still tied: organic, tied to no user.
 * The matched user's attribution is that of their latest session carrying `attribution_data`.
 */
import type { StoreSession } from './store.js';

export const WINDOW_MS = 24 * 60 * 60 * 1000;

export interface StoredSession extends Omit<StoreSession, 'time'> {
  timeMs: number;
}

export interface DeviceTraits {
  device_model: string;
  os_version: string;
  language: string;
  availableCapacity?: number | undefined;
}

export interface MatchResult {
  user?: string;
  attribution_data?: Record<string, unknown>;
  matchedBy: 'ip' | 'device' | 'none';
  /** Why this result, for the request log. */
  why: string;
  candidates: string[];
}

export function toStored(s: StoreSession, now: number): StoredSession {
  const { time, ...rest } = s;
  return { ...rest, timeMs: time === undefined ? now : typeof time === 'number' ? time : Date.parse(time) };
}

export function matchInstall(sessions: readonly StoredSession[], ip: string, device: DeviceTraits, now: number): MatchResult {
  const byUser = new Map<string, StoredSession[]>();
  for (const s of sessions) {
    if (s.ip !== ip || s.timeMs > now || now - s.timeMs > WINDOW_MS) continue;
    const list = byUser.get(s.user);
    if (list) list.push(s);
    else byUser.set(s.user, [s]);
  }
  const users = [...byUser.keys()];
  const none = (why: string): MatchResult => ({ matchedBy: 'none', why, candidates: users });
  const pick = (user: string, matchedBy: 'ip' | 'device', why: string): MatchResult => {
    const data = latestAttribution(sessions, user);
    return { user, matchedBy, why, candidates: users, ...(data ? { attribution_data: data } : {}) };
  };
  if (users.length === 0) return none('no store session from this IP in the last 24 hours');
  if (users.length === 1) return pick(users[0]!, 'ip', 'one store user on this IP');

  let candidates = users;
  for (const field of ['device_model', 'os_version', 'language'] as const) {
    const next = candidates.filter((u) => byUser.get(u)!.some((s) => s.device[field] === device[field]));
    if (next.length === 1) return pick(next[0]!, 'device', `${field} singles out one of ${users.length} users`);
    if (next.length === 0) return none(`no user on this IP has ${field} ${device[field]}`);
    candidates = next;
  }
  const cap = device.availableCapacity;
  if (cap !== undefined) {
    const distance = (u: string) =>
      Math.min(
        ...byUser
          .get(u)!
          .map((s) => (s.device.availableCapacity === undefined ? Infinity : Math.abs(s.device.availableCapacity - cap))),
      );
    const scored = candidates.map((u) => ({ u, d: distance(u) })).filter((x) => Number.isFinite(x.d));
    const best = Math.min(...scored.map((x) => x.d));
    const winners = scored.filter((x) => x.d === best);
    if (winners.length === 1) return pick(winners[0]!.u, 'device', 'closest availableCapacity');
  }
  return none(`${candidates.length} users on this IP stay tied after the device fields`);
}

function latestAttribution(sessions: readonly StoredSession[], user: string): Record<string, unknown> | undefined {
  let best: StoredSession | undefined;
  for (const s of sessions) {
    if (s.user !== user || s.attribution_data === undefined) continue;
    if (!best || s.timeMs >= best.timeMs) best = s;
  }
  return best?.attribution_data;
}
