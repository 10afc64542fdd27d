import { describe, expect, it } from 'vitest';
import { matchInstall, type StoredSession, WINDOW_MS } from './matching.js';

const NOW = Date.parse('2025-01-15T12:00:00Z');
const IP = '198.51.100.20';
const DEVICE = { device_model: 'iPhone15,2', os_version: '17.2', language: 'en-US', availableCapacity: 21_489_729_783 };

function session(user: string, device: StoredSession['device'] = {}, extra: Partial<StoredSession> = {}): StoredSession {
  return { ip: IP, user, device, timeMs: NOW - 60_000, ...extra };
}

describe('Onside install matching (§3.3, S-N8)', () => {
  it('is organic with no store session on the IP, or only sessions older than 24 hours', () => {
    expect(matchInstall([], IP, DEVICE, NOW)).toMatchObject({ matchedBy: 'none', candidates: [] });
    const old = session('u1', {}, { timeMs: NOW - WINDOW_MS - 1 });
    expect(matchInstall([old], IP, DEVICE, NOW).matchedBy).toBe('none');
    const edge = session('u1', {}, { timeMs: NOW - WINDOW_MS, attribution_data: { source: 'x' } });
    expect(matchInstall([edge], IP, DEVICE, NOW)).toMatchObject({ user: 'u1', matchedBy: 'ip' });
    expect(matchInstall([session('u1', {}, { ip: '198.51.100.21' })], IP, DEVICE, NOW).matchedBy).toBe('none');
  });

  it("ties an install to the only user on the IP, with that user's latest attribution", () => {
    const sessions = [
      session('u1', {}, { timeMs: NOW - 3_600_000, attribution_data: { source: 'old' } }),
      session('u1', {}, { timeMs: NOW - 60_000, attribution_data: { source: 'new', tags: ['a'] } }),
    ];
    expect(matchInstall(sessions, IP, DEVICE, NOW)).toMatchObject({
      user: 'u1',
      attribution_data: { source: 'new', tags: ['a'] },
    });
  });

  it('matches a user without attribution data, which is organic', () => {
    const r = matchInstall([session('u1')], IP, DEVICE, NOW);
    expect(r.user).toBe('u1');
    expect(r).not.toHaveProperty('attribution_data');
  });

  it('breaks ties by device_model, then os_version, then language, then the closest capacity', () => {
    const model = [session('a', { device_model: 'iPhone14,5' }), session('b', { device_model: 'iPhone15,2' })];
    expect(matchInstall(model, IP, DEVICE, NOW)).toMatchObject({ user: 'b', matchedBy: 'device' });
    const os = [
      session('a', { device_model: 'iPhone15,2', os_version: '16.0' }),
      session('b', { device_model: 'iPhone15,2', os_version: '17.2' }),
    ];
    expect(matchInstall(os, IP, DEVICE, NOW).user).toBe('b');
    const lang = [
      session('a', { device_model: 'iPhone15,2', os_version: '17.2', language: 'en-US' }),
      session('b', { device_model: 'iPhone15,2', os_version: '17.2', language: 'de-DE' }),
    ];
    expect(matchInstall(lang, IP, DEVICE, NOW).user).toBe('a');
    const same = { device_model: 'iPhone15,2', os_version: '17.2', language: 'en-US' };
    const cap = [
      session('a', { ...same, availableCapacity: 10_000_000_000 }),
      session('b', { ...same, availableCapacity: 21_000_000_000 }),
    ];
    expect(matchInstall(cap, IP, DEVICE, NOW).user).toBe('b');
  });

  it('is organic when the device fields leave several users, or none', () => {
    const same = { device_model: 'iPhone15,2', os_version: '17.2', language: 'en-US' };
    const tied = [session('a', same), session('b', same)];
    expect(matchInstall(tied, IP, DEVICE, NOW)).toMatchObject({ matchedBy: 'none', candidates: ['a', 'b'] });
    const equalCap = [session('a', { ...same, availableCapacity: 1 }), session('b', { ...same, availableCapacity: 1 })];
    expect(matchInstall(equalCap, IP, DEVICE, NOW).matchedBy).toBe('none');
    const noneFits = [session('a', { device_model: 'Pixel 8' }), session('b', { device_model: 'Pixel 7' })];
    expect(matchInstall(noneFits, IP, DEVICE, NOW).matchedBy).toBe('none');
    const noCapacity = [session('a', { ...same, availableCapacity: 1 }), session('b', { ...same, availableCapacity: 2 })];
    expect(matchInstall(noCapacity, IP, { ...DEVICE, availableCapacity: undefined }, NOW).matchedBy).toBe('none');
  });
});
