/**
 * Starts the gateway: load config, migrate, ensure topics, connect, build, listen. On SIGINT/SIGTERM:
 * stop accepting (in-flight requests finish), drain the producer (every accepted record is acked),
 * stop the reply feed, close the pool. A second signal, or 15 s, forces the exit.
 */
import { createBatchingProducer, createKafka, createReplyFeed, ensureTopics, topicNames } from '@s2s/bus';
import { describeConfig } from '@s2s/config';
import { createLogger } from '@s2s/logging';
import { createPool, migrate } from '@s2s/store';
import { pino } from 'pino';
import { buildGateway } from './app.js';
import { loadGatewayConfig } from './config.js';

const config = loadGatewayConfig();
// Buffered stdout: one line per request would otherwise be one write(2) per request. Flushed on exit.
const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
const logger = createLogger({ name: 'gateway', level: config.LOG_LEVEL, destination });
logger.info({ config: describeConfig(config) }, 'starting');

await migrate({ databaseUrl: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, log: (line) => logger.info(line) });
const pool = createPool({
  databaseUrl: config.DATABASE_URL,
  schema: config.DATABASE_SCHEMA,
  max: config.DATABASE_POOL_SIZE,
  applicationName: 's2s-gateway',
});
const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 's2s-gateway', logger });
const names = topicNames(config.TOPIC_PREFIX);
const admin = kafka.admin();
await admin.connect();
await ensureTopics(admin, names, { ingestPartitions: config.INGEST_PARTITIONS, replicationFactor: config.REPLICATION_FACTOR });
const producer = createBatchingProducer(kafka, { sendTimeoutMs: config.PRODUCE_TIMEOUT_MS });
await producer.connect();
const replyFeed = createReplyFeed(kafka, { topic: names.replies, logger });
await replyFeed.start();

const app = await buildGateway({
  config,
  pool,
  producer,
  replyFeed,
  logger,
  kafkaHealth: async () => void (await admin.describeCluster()),
});
await app.listen({ port: config.PORT, host: config.HOST });

let closing = false;
async function shutdown(signal: string) {
  if (closing) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  closing = true;
  logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    logger.error('shutdown took longer than 15 s: exiting');
    process.exit(1);
  }, 15_000);
  force.unref();
  try {
    // Keep-alive connections that were busy when closing began turn idle afterwards: close them as
    // they do, or the server would wait for their keep-alive timeout.
    const idle = setInterval(() => app.server.closeIdleConnections(), 50);
    await app.close(); // stops accepting, waits for in-flight requests, flushes `produced` marks
    clearInterval(idle);
    await producer.disconnect(); // resolves once every queued record is acknowledged or failed
    await replyFeed.stop();
    await admin.disconnect();
    await pool.end();
    logger.info('stopped');
    destination.flushSync();
  } catch (err) {
    logger.error({ err }, 'error while shutting down');
    process.exitCode = 1;
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
