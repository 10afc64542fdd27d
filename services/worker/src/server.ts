/**
 * Worker entry point: load config, migrate, make sure the topics exist, start; close gracefully on
 * SIGTERM/SIGINT (stop fetching, finish in-flight records, commit, leave the group).
 */
import { createKafka, ensureTopics, topicNames } from '@s2s/bus';
import { ConfigError, describeConfig } from '@s2s/config';
import { createLogger } from '@s2s/logging';
import { migrate } from '@s2s/store';
import { loadWorkerConfig } from './config.js';
import { createWorker, type Worker } from './worker.js';

let config: ReturnType<typeof loadWorkerConfig>;
try {
  config = loadWorkerConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
const logger = createLogger({ name: 'worker', level: config.LOG_LEVEL });
logger.info({ config: describeConfig(config) }, 'starting');

// Installed first: a signal during start-up still shuts down gracefully (once start has finished).
let started: Promise<Worker | undefined> = Promise.resolve(undefined);
let closing = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    started
      .then((worker) => worker?.stop())
      .then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  });

started = (async () => {
  await migrate({ databaseUrl: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, log: (line) => logger.info(line) });
  const admin = createKafka({ brokers: config.KAFKA_BROKERS, clientId: `s2s-worker-${config.WORKER_ID}-admin`, logger }).admin();
  await admin.connect();
  await ensureTopics(admin, topicNames(config.TOPIC_PREFIX), {
    ingestPartitions: config.INGEST_PARTITIONS,
    replicationFactor: config.REPLICATION_FACTOR,
  });
  await admin.disconnect();
  if (closing) return undefined;
  const worker = createWorker(config, logger);
  await worker.start();
  return worker;
})();
await started;
