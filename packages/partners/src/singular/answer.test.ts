import { describe, expect, it } from 'vitest';
import { parseSingularResponse } from './answer.js';

describe('Singular answer (S1, §1.8)', () => {
  it('200 + ok is success; absent link fields stay absent (S11)', () => {
    expect(parseSingularResponse(200, '{"status":"ok"}')).toEqual({ outcome: 'success', answer: { extra: {} } });
  });

  it('types the deferred deep link, passthrough and resolved link', () => {
    const body = JSON.stringify({
      status: 'ok',
      deferred_deeplink: 'myapp://deferred-deeplink',
      deferred_passthrough: 'passthroughvalue',
      resolved_singular_link: 'https://myapp.sng.link/A59c0/nha7?_dl=x',
    });
    expect(parseSingularResponse(200, body)).toEqual({
      outcome: 'success',
      answer: {
        deferredDeeplink: 'myapp://deferred-deeplink',
        deferredPassthrough: 'passthroughvalue',
        resolvedSingularLink: 'https://myapp.sng.link/A59c0/nha7?_dl=x',
        extra: {},
      },
    });
  });

  it('passes every other field but status in extra, JSON-encoded (SKAN conversion values, S17)', () => {
    const body =
      '{"status":"ok","conversion_value":5,"skan_updated_coarse_value":2,"skan_updated_lock_window_value":true,"note":"hi","deferred_deeplink":null}';
    expect(parseSingularResponse(200, body)).toEqual({
      outcome: 'success',
      answer: {
        extra: {
          conversion_value: '5',
          skan_updated_coarse_value: '2',
          skan_updated_lock_window_value: 'true',
          note: '"hi"',
        },
      },
    });
  });

  it.each([
    'missing argument: ip',
    'invalid platform: Windows',
    'no device ID supplied',
    'platform: iOS should have an idfv param',
    'platform: Android should have a aifa param',
  ])('200 + error "%s" is permanent with the reason', (reason) => {
    expect(parseSingularResponse(200, JSON.stringify({ status: 'error', reason }))).toEqual({ outcome: 'permanent', reason });
  });

  it.each([
    [200, '{"status":"error","reason":"internal error, try later"}', 'internal error, try later'],
    [200, '{"status":"error"}', 'status "error"'],
    [500, '{"status":"error","reason":"missing argument: a"}', 'HTTP 500'],
    [429, '', 'HTTP 429'],
    [503, 'down', 'HTTP 503'],
  ])('%i %s is retryable', (status, body, reason) => {
    expect(parseSingularResponse(status, body)).toEqual({ outcome: 'retryable', reason });
  });

  it('a 200 that cannot be read is retryable and marked unreadable (Singular may have acted on it)', () => {
    expect(parseSingularResponse(200, '<html>proxy</html>')).toMatchObject({ outcome: 'retryable', unreadable: true });
    expect(parseSingularResponse(200, '[1]')).toMatchObject({ outcome: 'retryable', unreadable: true });
  });

  it('414 and 431 are permanent: the same bytes can never pass (S21)', () => {
    expect(parseSingularResponse(414, '')).toMatchObject({ outcome: 'permanent' });
    expect(parseSingularResponse(431, '')).toMatchObject({ outcome: 'permanent' });
  });
});
