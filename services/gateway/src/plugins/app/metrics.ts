/**
 * Prometheus metrics (prom-client), served at /metrics. One registry per app instance, so that tests
 * building several gateways in one process never share counters.
 */
import type { RecordKind } from '@s2s/contracts';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { IntakeMetrics } from '../../intake/service.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gateway_' });
  const m = {
    registry,
    requests: new Counter({
      name: 'gateway_http_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    intakeSeconds: new Histogram({
      name: 'gateway_intake_duration_seconds',
      help: 'Time from request received to answer sent on the intake routes',
      labelNames: ['route', 'status'] as const,
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    claimSeconds: new Histogram({
      name: 'gateway_intake_claim_duration_seconds',
      help: 'Postgres round trip of one batched intake claim',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    produceSeconds: new Histogram({
      name: 'gateway_produce_duration_seconds',
      help: 'Time from queueing a record for Kafka to its acknowledgement',
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    recordsProduced: new Counter({
      name: 'gateway_records_produced_total',
      help: 'Records acknowledged by Kafka on s2s.ingest',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    records: new Counter({
      name: 'gateway_intake_records_total',
      help: 'Records received, by result (accepted, replayed, conflict, invalid, unavailable)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    waits: new Counter({
      name: 'gateway_waits_total',
      help: 'Prefer: wait requests, by result (satisfied, timed_out)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    waiting: new Gauge({
      name: 'gateway_waiting_requests',
      help: 'Requests currently waiting for partner replies',
      registers: [registry],
    }),
    authCache: new Counter({
      name: 'gateway_auth_cache_total',
      help: 'API key lookups, by cache result (hit, miss)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
  const intake: IntakeMetrics = {
    claimSeconds: (s) => m.claimSeconds.observe(s),
    produceSeconds: (s) => m.produceSeconds.observe(s),
    produced: (kind: RecordKind) => m.recordsProduced.inc({ kind }),
  };
  return { ...m, intake };
}
export type GatewayMetrics = ReturnType<typeof createMetrics>;

declare module 'fastify' {
  interface FastifyInstance {
    metrics: GatewayMetrics;
  }
  interface FastifyContextConfig {
    /** Marks an intake route: its latency goes to gateway_intake_duration_seconds. */
    intake?: boolean;
  }
}

export default fp(
  async (fastify: FastifyInstance) => {
    const metrics = createMetrics();
    fastify.decorate('metrics', metrics);
    fastify.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      const status = String(reply.statusCode);
      metrics.requests.inc({ method: request.method, route, status });
      if (request.routeOptions.config.intake) metrics.intakeSeconds.observe({ route, status }, reply.elapsedTime / 1000);
    });
  },
  { name: 'metrics' },
);
