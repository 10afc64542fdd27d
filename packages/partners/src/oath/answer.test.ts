import { describe, expect, it } from 'vitest';
import { parseOathResponse } from './answer.js';

const MATCH = {
  original_request: 'http://example/appinstall?bs=x',
  claims: [
    {
      timestamp_ms: 1445539353000,
      event_type: 200,
      creative_id: 1923847162,
      creative_name: 'creative name',
      adgroup_id: 1324182736,
      adgroup_name: 'ad group name',
      campaign_id: 302934875,
      campaign_name: 'campaign name',
      advertiser_id: 908733,
      advertiser_name: 'advertiser name',
      site_id: 'dhjs8723tgajshd23a',
      ip_address: '',
      demand_platform_id: 1,
      campaign_type: 'app_install',
    },
  ],
  network_id: '9128376dhfgasd',
};

describe('Oath answer (§2.5, S-O2)', () => {
  it('maps the match example to camelCase claims', () => {
    expect(parseOathResponse(200, JSON.stringify(MATCH))).toEqual({
      outcome: 'success',
      answer: {
        claims: [
          {
            timestampMs: 1445539353000,
            eventType: 200,
            creativeId: 1923847162,
            creativeName: 'creative name',
            adgroupId: 1324182736,
            adgroupName: 'ad group name',
            campaignId: 302934875,
            campaignName: 'campaign name',
            advertiserId: 908733,
            advertiserName: 'advertiser name',
            siteId: 'dhjs8723tgajshd23a',
            ipAddress: '',
            demandPlatformId: 1,
            campaignType: 'app_install',
          },
        ],
        networkId: '9128376dhfgasd',
      },
    });
  });

  it('no claims, or claims: [], is unattributed; network_id may be absent (S-O12)', () => {
    expect(parseOathResponse(200, '{"original_request":"x","network_id":"n"}')).toEqual({
      outcome: 'success',
      answer: { claims: [], networkId: 'n' },
    });
    expect(parseOathResponse(200, '{"claims":[]}')).toEqual({ outcome: 'success', answer: { claims: [] } });
  });

  it('keeps only timestamp_ms and event_type required (S-O10) and passes several claims (S-O11)', () => {
    const body =
      '{"claims":[{"timestamp_ms":1,"event_type":100},{"timestamp_ms":"2","event_type":200,"campaign_type":"reengagement"}]}';
    expect(parseOathResponse(200, body)).toEqual({
      outcome: 'success',
      answer: {
        claims: [
          { timestampMs: 1, eventType: 100 },
          { timestampMs: 2, eventType: 200, campaignType: 'reengagement' },
        ],
      },
    });
  });

  it.each([
    [403, '{"error":"invalid signature"}', 'HTTP 403: invalid signature'],
    [400, '{"error":"missing it"}', 'HTTP 400: missing it'],
    [404, 'not found', 'HTTP 404'],
  ])('%i is permanent (%s)', (status, body, reason) => {
    expect(parseOathResponse(status, body)).toEqual({ outcome: 'permanent', reason });
  });

  it.each([429, 500, 502, 503])('%i is retryable', (status) => {
    expect(parseOathResponse(status, '')).toEqual({ outcome: 'retryable', reason: `HTTP ${status}` });
  });

  it('a 200 that cannot be read (not JSON, claims not an array, a claim without its required fields) is unreadable', () => {
    for (const body of ['nope', '"x"', '{"claims":{}}', '{"claims":[{"event_type":200}]}'])
      expect(parseOathResponse(200, body)).toMatchObject({ outcome: 'retryable', unreadable: true });
  });
});
