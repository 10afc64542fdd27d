/**
 * /healthz: the process answers. /readyz: Postgres and Kafka answer and the reply feed is running
 * (a load balancer sends traffic only then). /metrics: Prometheus text format.
 */
import type { ReplyFeed } from '@s2s/bus';
import type { Pool } from '@s2s/store';
import type { FastifyInstance } from 'fastify';

export interface HealthOptions {
  pool: Pool;
  kafkaHealth: () => Promise<void>;
  replyFeed: ReplyFeed;
  timeoutMs?: number;
}

async function check(fn: () => Promise<unknown>, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
}

export default async function health(
  fastify: FastifyInstance,
  { pool, kafkaHealth, replyFeed, timeoutMs = 2000 }: HealthOptions,
) {
  const hide = { schema: { hide: true } };
  fastify.get('/healthz', hide, async () => ({ status: 'ok' }));

  fastify.get('/readyz', hide, async (_request, reply) => {
    const [postgres, kafka] = await Promise.all([check(() => pool.query('SELECT 1'), timeoutMs), check(kafkaHealth, timeoutMs)]);
    const replies = replyFeed.ready() ? 'ok' : 'reply feed not running';
    const ready = postgres === 'ok' && kafka === 'ok' && replies === 'ok';
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks: { postgres, kafka, replies } });
  });

  fastify.get('/metrics', hide, async (_request, reply) => {
    reply.type(fastify.metrics.registry.contentType);
    return fastify.metrics.registry.metrics();
  });
}
