import { type EventRecord, exampleEvent, exampleIosSession, exampleUuid } from '@s2s/contracts';
import { describe, expect, it } from 'vitest';
import { enrichRecord } from './enrich.js';

const ios = exampleEvent(exampleIosSession(1), 'x');
const idfa = exampleUuid(1, 9, true);
const android = (ids: EventRecord['ids']): EventRecord => ({ ...ios, platform: 'Android', attStatus: undefined, ids });
const none = { identifiers: {}, limitDataSharing: undefined };

describe('enrichment from the device graph', () => {
  it('adds an IDFA the record lacks only when the record says ATT is authorized', () => {
    const graph = { identifiers: { idfa, idfv: 'other', custom_user_id: 'u' }, limitDataSharing: undefined };
    expect(enrichRecord({ ...ios, attStatus: 3 }, graph).ids).toEqual({ ...ios.ids, idfa });
    for (const attStatus of [0, 1, 2, undefined]) expect(enrichRecord({ ...ios, attStatus }, graph).ids).toEqual(ios.ids);
    // The record's own values are never replaced, custom_user_id never added.
    expect(enrichRecord({ ...ios, attStatus: 3 }, graph)).not.toHaveProperty('customUserId');
    expect(enrichRecord({ ...ios, attStatus: 3, ids: { ...ios.ids, idfa: 'mine' } }, graph).ids.idfa).toBe('mine');
  });

  it("adds only the platform's kinds, and never andi next to aifa or asid", () => {
    const aifa = exampleUuid(2, 1);
    const graph = { identifiers: { aifa, andi: '0123456789abcdef', idfa, idfv: 'x' }, limitDataSharing: undefined };
    expect(enrichRecord(android({ asid: exampleUuid(2, 2) }), graph).ids).toEqual({ asid: exampleUuid(2, 2), aifa });
    expect(enrichRecord(android({ oaid: 'o' }), graph).ids).toEqual({ oaid: 'o', aifa });
    expect(enrichRecord(android({ oaid: 'o' }), { ...graph, identifiers: { andi: '0123456789abcdef' } }).ids).toEqual({
      oaid: 'o',
      andi: '0123456789abcdef',
    });
  });

  it("carries the device's recorded consent onto a record that does not say; the record's own value wins", () => {
    expect(enrichRecord(ios, { identifiers: {}, limitDataSharing: true }).limitDataSharing).toBe(true);
    expect(enrichRecord({ ...ios, limitDataSharing: false }, { identifiers: {}, limitDataSharing: true }).limitDataSharing).toBe(
      false,
    );
    expect(enrichRecord(ios, none)).toBe(ios);
  });
});
