/**
 * The sandbox's environment, parsed once at start by `loadSandboxConfig(env)`. Tests build the
 * config from an object instead of `process.env`.
 */
import { envBool, envInt, loadConfig } from '@s2s/config';
import { z } from 'zod';

export const SandboxConfig = z.object({
  /** TCP port to listen on. */
  SANDBOX_PORT: envInt(4010, 0, 65_535),
  /** Interface to bind; 127.0.0.1 keeps the sandbox off the network. */
  SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
  /** pino level for the sandbox's own log lines (the hot path logs at debug only). */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Most entries kept by the request log served at /_sandbox/requests; the oldest go first. */
  SANDBOX_LOG_LIMIT: envInt(1_000_000, 1),
  /** Singular: turn every "Req" gap of the spec into `missing argument: <x>` (else a warning). */
  SANDBOX_STRICT: envBool(true),
  /** Singular: an IPv6 address in `ip` is accepted with a warning (`warn`) or refused as `missing argument: ip` (`reject`). */
  SANDBOX_SINGULAR_IPV6: z.enum(['warn', 'reject']).default('warn'),
  /** Singular: also serve the SDID-only `/api/v2/evt` (spec S4/S19; off by default). */
  SANDBOX_SINGULAR_V2_EVT: envBool(false),
  /** Oath: the data provider's HMAC key used to check `bs`. Not a real secret, but never logged. */
  SANDBOX_OATH_KEY: z.string().min(1).default('sandbox-oath-key'),
  /** Oath: `network_id` included in every answer. */
  SANDBOX_OATH_NETWORK_ID: z.string().min(1).default('sandbox-network'),
  /** Onside: the JWS `iss` claim. */
  SANDBOX_ONSIDE_ISS: z.string().min(1).default('https://onside.io'),
  /** Onside: `kid` of the signing key generated at start. */
  SANDBOX_ONSIDE_KID: z.string().min(1).default('public_key_1'),
  /** Onside: request header holding the device IP (first hop); the socket address when absent. */
  SANDBOX_ONSIDE_IP_HEADER: z
    .string()
    .min(1)
    .default('x-forwarded-for')
    .transform((h) => h.toLowerCase()),
  /** Onside: lifetime of an issued JWS, seconds (exp - iat). */
  SANDBOX_ONSIDE_TOKEN_TTL: envInt(3600, 1),
  /** Onside: when set, `attribution/install` requires `Authorization: Bearer <value>` (spec S-N1). */
  SANDBOX_ONSIDE_BEARER: z.string().min(1).optional(),
});
export type SandboxConfig = z.output<typeof SandboxConfig>;

export function loadSandboxConfig(env: NodeJS.ProcessEnv = process.env): SandboxConfig {
  return loadConfig(SandboxConfig, env);
}
