/**
 * Builds a real gateway for tests: real Kafka topics and a Postgres schema of the test's own, an app
 * with every partner on, its API key, and the log lines the gateway wrote. Used by the unit tests
 * beside the code and by the integration tests in test/gateway (which reach the contracts and
 * fast-check through the re-exports at the bottom: the shared test package does not depend on them).
 */
import { createBatchingProducer, createReplyFeed, type ReplyFeed } from '@s2s/bus';
import { createLogger } from '@s2s/logging';
import { type App, createAppsRepo, type NewApp, type Pool } from '@s2s/store';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import {
  createTestSchema,
  createTestTopics,
  type TestSchema,
  type TestTopics,
  testBrokers,
  testKafka,
} from '../../../test/support/index.js';
import { buildGateway } from '../src/app.js';
import { type GatewayConfig, loadGatewayConfig } from '../src/config.js';

/** Partner secrets of the test app: no log line may ever contain them. */
export const SECRETS = {
  singularSdkKey: 'sdk-secret-3f9a7c1e5b',
  oathHmacKey: 'hmac-secret-8d2e6b4a0c',
};

export interface TestGateway {
  app: FastifyInstance;
  config: GatewayConfig;
  appId: string;
  apiKey: string;
  topics: TestTopics;
  schema: TestSchema;
  kafka: Kafka;
  replyFeed: ReplyFeed;
  /** Every line the gateway logged, as written. */
  logs: string[];
  /** Creates another app in the same schema; returns its key. */
  addApp(app: NewApp): Promise<{ app: App; apiKey: string }>;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  env?: Record<string, string>;
  /** Reuse topics/schema of another gateway (they are then not cleaned up by this one). */
  topics?: TestTopics;
  schema?: TestSchema;
  /** Brokers of the producer (e.g. an address where no broker runs); the test broker by default. */
  producerBrokers?: string[];
  app?: Partial<NewApp>;
  sendTimeoutMs?: number;
  /** The gateway's pool (the test schema's by default), e.g. one the test ends to simulate an outage. */
  gatewayPool?: Pool;
}

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const kafka = testKafka();
  const topics = options.topics ?? (await createTestTopics(kafka, 6));
  const schema = options.schema ?? (await createTestSchema());
  const config = loadGatewayConfig({
    KAFKA_BROKERS: testBrokers().join(','),
    TOPIC_PREFIX: topics.prefix,
    DATABASE_URL: schema.databaseUrl,
    DATABASE_SCHEMA: schema.schema,
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const logs: string[] = [];
  const logger = createLogger({
    name: 'gateway',
    level: config.LOG_LEVEL,
    destination: { write: (line: string) => void logs.push(line) },
  });

  const apps = createAppsRepo(schema.pool);
  const appId = `app-${Math.random().toString(36).slice(2, 10)}`;
  const { apiKey } = await apps.upsert({
    id: appId,
    singularSdkKey: SECRETS.singularSdkKey,
    oathDataProviderId: 'dp-1',
    oathHmacKey: SECRETS.oathHmacKey,
    onsideEnabled: true,
    ddlEnabled: true,
    ...options.app,
  });

  const producerKafka = options.producerBrokers
    ? (await import('@s2s/bus')).createKafka({
        brokers: options.producerBrokers,
        clientId: 'test-down',
        connectionTimeoutMs: 300,
        retry: { retries: 0 },
      })
    : kafka;
  const producer = createBatchingProducer(producerKafka, { sendTimeoutMs: options.sendTimeoutMs ?? 5000 });
  if (!options.producerBrokers) await producer.connect();
  const replyFeed = createReplyFeed(kafka, { topic: topics.names.replies });
  await replyFeed.start();
  const app = await buildGateway({
    config,
    pool: options.gatewayPool ?? schema.pool,
    producer,
    replyFeed,
    logger,
    kafkaHealth: options.producerBrokers
      ? async () => {
          const admin = producerKafka.admin();
          await admin.connect();
          await admin.disconnect();
        }
      : async () => void (await topics.admin.describeCluster()),
  });

  return {
    app,
    config,
    appId,
    apiKey,
    topics,
    schema,
    kafka,
    replyFeed,
    logs,
    addApp: (a) => apps.upsert(a),
    async close() {
      await app.close();
      await producer.disconnect().catch(() => {});
      await replyFeed.stop();
      if (!options.topics) await topics.cleanup();
      if (!options.schema) await schema.cleanup();
    },
  };
}

export * from '@s2s/contracts';
export { default as fc } from 'fast-check';
export type { InjectOptions } from 'fastify';
