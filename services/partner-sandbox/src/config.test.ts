import { ConfigError } from '@s2s/config';
import { describe, expect, it } from 'vitest';
import { loadSandboxConfig } from './config.js';

describe('sandbox configuration', () => {
  it('has the documented defaults', () => {
    expect(loadSandboxConfig({})).toEqual({
      SANDBOX_PORT: 4010,
      SANDBOX_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      SANDBOX_LOG_LIMIT: 1_000_000,
      SANDBOX_STRICT: true,
      SANDBOX_SINGULAR_IPV6: 'warn',
      SANDBOX_SINGULAR_V2_EVT: false,
      SANDBOX_OATH_KEY: 'sandbox-oath-key',
      SANDBOX_OATH_NETWORK_ID: 'sandbox-network',
      SANDBOX_ONSIDE_ISS: 'https://onside.io',
      SANDBOX_ONSIDE_KID: 'public_key_1',
      SANDBOX_ONSIDE_IP_HEADER: 'x-forwarded-for',
      SANDBOX_ONSIDE_TOKEN_TTL: 3600,
    });
  });

  it('parses booleans strictly ("false" is false) and names every bad variable', () => {
    expect(loadSandboxConfig({ SANDBOX_STRICT: 'false' }).SANDBOX_STRICT).toBe(false);
    let err: unknown;
    try {
      loadSandboxConfig({ SANDBOX_STRICT: 'no', SANDBOX_SINGULAR_IPV6: 'drop', SANDBOX_PORT: '70000' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const names = (err as ConfigError).issues.map((i) => i.split(':')[0]);
    expect(names.sort()).toEqual(['SANDBOX_PORT', 'SANDBOX_SINGULAR_IPV6', 'SANDBOX_STRICT']);
  });
});
