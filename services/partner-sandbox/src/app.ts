/**
 * The partner sandbox as one Fastify app: state, then one encapsulated plugin per emulator
 * (`/singular`, `/oath`, `/onside`) and the control plane (`/_sandbox`). Everything it depends on
 * comes in through `BuildOptions` (config, clock, randomness, sleep, signing keys, logger), with
 * real defaults, so tests build it without a port and with a clock of their own.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { createLogger, type Logger } from '@s2s/logging';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { SandboxConfig } from './config.js';
import { controlRoutes } from './control/routes.js';
import { oathRoutes } from './oath/routes.js';
import { generateSigningKey, KeyRing, type SigningKey } from './onside/keys.js';
import { onsideRoutes } from './onside/routes.js';
import { singularRoutes } from './singular/routes.js';
import { createState, statePlugin } from './state.js';

export interface BuildOptions {
  config: SandboxConfig;
  logger?: Logger;
  /** Unix ms. Default: Date.now. */
  clock?: () => number;
  /** Default: Math.random. */
  random?: () => number;
  /** Default: a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** The Onside signer to start with. Default: a fresh RSA 2048 key with `SANDBOX_ONSIDE_KID`. */
  onsideKey?: SigningKey;
  /** Makes keys on rotation and for the unknown-kid forgery. Default: RSA 2048. */
  generateKey?: (kid: string) => Promise<SigningKey>;
}

/** Long URLs are legitimate here: Singular receipts travel in the query (S21: accept up to 64 KB). */
const MAX_HEADER_BYTES = 80 * 1024;

export async function buildApp(options: BuildOptions): Promise<FastifyInstance> {
  const { config } = options;
  const generateKey = options.generateKey ?? generateSigningKey;
  const keys = new KeyRing(options.onsideKey ?? (await generateKey(config.SANDBOX_ONSIDE_KID)), generateKey);
  const state = createState({
    config,
    clock: options.clock ?? Date.now,
    random: options.random ?? Math.random,
    sleep: options.sleep ?? ((ms) => delay(ms).then(() => undefined)),
    keys,
  });

  const app = Fastify({
    loggerInstance: (options.logger ?? createLogger({ name: 'partner-sandbox', level: config.LOG_LEVEL })) as FastifyBaseLogger,
    // Fastify's own request lines would carry the raw URL (Singular's `a`, Oath's `bs`); the
    // emulators write their own, redacted, at debug level.
    logController: new LogController({ disableRequestLogging: true }),
    http: { maxHeaderSize: MAX_HEADER_BYTES },
    // Held sockets (the timeout fault) must not keep close() waiting.
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true },
    // A HEAD on a partner path would run the emulator (and change its state) without a body to show.
    exposeHeadRoutes: false,
  });

  await app.register(statePlugin, { state });
  await app.register(singularRoutes, { prefix: '/singular' });
  await app.register(oathRoutes, { prefix: '/oath' });
  await app.register(onsideRoutes, { prefix: '/onside' });
  await app.register(controlRoutes, { prefix: '/_sandbox' });
  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}
