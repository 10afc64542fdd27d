import { describe, expect, it } from 'vitest';
import { type NewEntry, RequestLog } from './request-log.js';

const entry = (n: number, extra: Partial<NewEntry> = {}): NewEntry => ({
  partner: 'singular',
  method: 'GET',
  url: `/singular/api/v1/evt?n=${n}`,
  bodyText: null,
  bodyKind: null,
  receivedAt: Date.parse('2025-01-15T12:00:00Z'),
  deviceKey: `d${n % 2}`,
  outcome: 'event',
  status: 200,
  warnings: [],
  duplicate: false,
  ...extra,
});

describe('request log', () => {
  it('keeps at most `limit` entries, dropping the oldest, and lists them oldest first', () => {
    const log = new RequestLog(3);
    for (let n = 1; n <= 7; n++) log.push(entry(n));
    expect(log.size).toBe(3);
    expect(log.list().map((e) => e.seq)).toEqual([5, 6, 7]);
    expect(log.list()[0]).toMatchObject({
      path: '/singular/api/v1/evt',
      query: { n: '5' },
      body: null,
      receivedAt: '2025-01-15T12:00:00.000Z',
    });
    expect(log.list({ device: 'D1' }).map((e) => e.seq)).toEqual([5, 7]);
    expect(log.list({ since: 5, limit: 1 }).map((e) => e.seq)).toEqual([6]);
  });

  it('counts every push even past the limit, and keeps numbering after a clear', () => {
    const log = new RequestLog(2);
    log.push(entry(1));
    log.push(entry(2, { duplicate: true }));
    log.push(entry(3, { partner: 'oath', outcome: 'no-match' }));
    expect(log.counters()).toEqual({
      singular: { requests: 2, duplicates: 1, outcomes: { event: 2 } },
      oath: { requests: 1, duplicates: 0, outcomes: { 'no-match': 1 } },
      onside: { requests: 0, duplicates: 0, outcomes: {} },
    });
    log.clear();
    expect(log.list()).toEqual([]);
    expect(log.push(entry(4)).seq).toBe(4);
  });
});
