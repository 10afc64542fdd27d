import { describe, expect, it } from 'vitest';
import { idempotencyHeader, idempotencyKeyOf, preferWait } from './headers.js';

describe('intake headers', () => {
  it('reads wait=N from Prefer (RFC 7240), ignoring what it cannot parse', () => {
    expect(preferWait(undefined)).toBeUndefined();
    expect(preferWait('wait=10')).toBe(10);
    expect(preferWait('respond-async, wait=5')).toBe(5);
    expect(preferWait('handling=lenient, WAIT="3"; x=y')).toBe(3);
    expect(preferWait(['respond-async', 'wait=2'])).toBe(2);
    expect(preferWait('wait=soon')).toBeUndefined();
    expect(preferWait('wait=-1')).toBeUndefined();
  });

  it('takes the Idempotency-Key (quoted or not), else the eventId, else the body hash', () => {
    expect(idempotencyHeader('"abc-1"')).toBe('abc-1');
    expect(idempotencyHeader('abc-1')).toBe('abc-1');
    expect(() => idempotencyHeader('has space')).toThrow(/visible ASCII/);
    expect(() => idempotencyHeader('x'.repeat(256))).toThrow();
    expect(idempotencyKeyOf('h', { eventId: 'e' }, 'hash')).toBe('h');
    expect(idempotencyKeyOf(undefined, { eventId: 'e' }, 'hash')).toBe('e');
    expect(idempotencyKeyOf(undefined, {}, 'hash')).toBe('sha256:hash');
  });
});
