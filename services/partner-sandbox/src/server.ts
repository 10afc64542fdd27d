/**
 * Entry point: load the config (a bad variable stops the process, naming it), build, listen,
 * close on SIGINT/SIGTERM.
 */
import { describeConfig } from '@s2s/config';
import { createLogger } from '@s2s/logging';
import { buildApp } from './app.js';
import { loadSandboxConfig } from './config.js';

let config: ReturnType<typeof loadSandboxConfig>;
try {
  config = loadSandboxConfig();
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
const logger = createLogger({ name: 'partner-sandbox', level: config.LOG_LEVEL });
const app = await buildApp({ config, logger });
await app.listen({ port: config.SANDBOX_PORT, host: config.SANDBOX_HOST });
logger.info({ config: describeConfig(config) }, 'partner sandbox listening');

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'closing');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'close failed');
        process.exit(1);
      },
    );
  });
}
