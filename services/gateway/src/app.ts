import { isUtf8 } from 'node:buffer';
/**
 * The whole gateway as one plugin tree; every dependency comes in through `GatewayDeps`, so tests
 * build it with real Kafka and Postgres and call `app.inject`, and server.ts builds it for real.
 *
 *   plugins/app      request-log → problems → metrics → auth, replies, privacy → intake   (our decorators)
 *   plugins/external swagger, rate-limit                                          (ecosystem plugins)
 *   routes/          health, docs, records (/v1/*), requests, singular (drop-in), postbacks, ops (/ops/*),
 *                    admin (/v1/admin/*)
 */
import type { BatchingProducer, ReplyFeed } from '@s2s/bus';
import { newRequestId } from '@s2s/contracts';
import type { Logger } from '@s2s/logging';
import type { Pool } from '@s2s/store';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { GatewayConfig } from './config.js';
import { GatewayError } from './errors.js';
import type { Clock } from './intake/service.js';
import auth from './plugins/app/auth.js';
import intake from './plugins/app/intake.js';
import metrics from './plugins/app/metrics.js';
import privacy from './plugins/app/privacy.js';
import problems from './plugins/app/problems.js';
import replies from './plugins/app/replies.js';
import requestLog from './plugins/app/request-log.js';
import rateLimit from './plugins/external/rate-limit.js';
import swagger from './plugins/external/swagger.js';
import admin from './routes/admin/index.js';
import docs from './routes/docs/index.js';
import health from './routes/health/index.js';
import ops from './routes/ops/index.js';
import postbacks from './routes/postbacks/index.js';
import records from './routes/records/index.js';
import requests from './routes/requests/index.js';
import singular from './routes/singular/index.js';

export interface GatewayDeps {
  config: GatewayConfig;
  pool: Pool;
  producer: BatchingProducer;
  replyFeed: ReplyFeed;
  logger: Logger;
  /** Resolves when Kafka answers (for /readyz). */
  kafkaHealth: () => Promise<void>;
  clock?: Clock;
}

export async function gatewayApp(fastify: FastifyInstance, deps: GatewayDeps) {
  const { config, pool, producer, replyFeed, kafkaHealth, clock = { now: Date.now } } = deps;
  // Bodies are validated by the contracts' zod schemas in the handlers (every failing field listed);
  // the JSON Schemas on routes only feed the OpenAPI document. Answers are serialized as they are.
  fastify.setValidatorCompiler(() => () => true);
  fastify.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // JSON only: text/plain (a Fastify default) would otherwise be parsed too.
  fastify.removeContentTypeParser('text/plain');

  await fastify.register(requestLog);
  await fastify.register(problems);
  await fastify.register(metrics);
  await fastify.register(swagger);
  await fastify.register(rateLimit, { perSecond: config.RATE_LIMIT_PER_SECOND });
  await fastify.register(auth, {
    pool,
    ttlMs: config.AUTH_CACHE_TTL_MS,
    max: config.AUTH_CACHE_MAX,
    now: clock.now,
    retryAfterSeconds: config.RETRY_AFTER_SECONDS,
  });
  await fastify.register(replies, { pool, replyFeed });
  await fastify.register(privacy, { pool });
  await fastify.register(intake, {
    pool,
    producer,
    topic: `${config.TOPIC_PREFIX}s2s.ingest`,
    clock,
    retryAfterSeconds: config.RETRY_AFTER_SECONDS,
  });

  await fastify.register(health, { pool, kafkaHealth, replyFeed });
  await fastify.register(docs);
  await fastify.register(records, { batchMax: config.BATCH_MAX_RECORDS, maxWaitSeconds: config.MAX_WAIT_SECONDS });
  await fastify.register(requests, { retryAfterSeconds: config.RETRY_AFTER_SECONDS });
  await fastify.register(singular, { maxWaitSeconds: config.MAX_WAIT_SECONDS });
  await fastify.register(postbacks, { retryAfterSeconds: config.RETRY_AFTER_SECONDS });
  if (config.ADMIN_KEY)
    await fastify.register(ops, {
      adminKey: config.ADMIN_KEY,
      sandboxUrl: config.SANDBOX_URL,
      workerOpsUrl: config.WORKER_OPS_URL,
    });
  if (config.ADMIN_KEY)
    await fastify.register(admin, { adminKey: config.ADMIN_KEY, retryAfterSeconds: config.RETRY_AFTER_SECONDS });
}

/** A Fastify instance with the gateway registered (not listening). */
export async function buildGateway(deps: GatewayDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // request-log.ts writes one line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.BODY_LIMIT_BYTES,
    genReqId: () => newRequestId(),
    requestIdHeader: false,
    routerOptions: { ignoreTrailingSlash: true },
  });
  // JSON bodies must be UTF-8 (RFC 8259). Fastify's parser would turn invalid bytes into U+FFFD and
  // the record would reach the partners altered; refuse them instead, then parse as Fastify does
  // (prototype poisoning refused).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if (!isUtf8(body as Buffer)) {
      done(new GatewayError('MALFORMED_JSON', 'the body is not valid UTF-8'), undefined);
      return;
    }
    parseJson(request, (body as Buffer).toString('utf8'), done);
  });
  await app.register(gatewayApp, deps);
  await app.ready();
  return app;
}
