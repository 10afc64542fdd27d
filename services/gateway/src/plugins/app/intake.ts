/**
 * Intake as the routes use it: `acceptOne` takes one validated record through claim → produce →
 * (optionally) wait for the partners' replies. The batch route uses `fastify.intake` directly.
 */
import type { BatchingProducer } from '@s2s/bus';
import { bodyHash, type EventRecord, type RecordKind, type ReplyMessage, type SessionRecord } from '@s2s/contracts';
import { createIntakeRepo, type IntakeRepo, type Pool } from '@s2s/store';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError } from '../../errors.js';
import { idempotencyKeyOf } from '../../intake/headers.js';
import { type ClaimState, type Clock, createIntakeService, type IntakeService } from '../../intake/service.js';
import { expectedPartners, isComplete } from '../../replies/expected.js';

export interface AcceptOneInput {
  kind: RecordKind;
  record: SessionRecord | EventRecord;
  idempotencyHeader: string | undefined;
  /** Seconds to wait for replies (already capped); undefined or 0: answer once Kafka has the record. */
  waitSeconds: number | undefined;
}

export interface AcceptedOne {
  requestId: string;
  deviceKey: string;
  state: Exclude<ClaimState, 'conflict'>;
  replies: ReplyMessage[];
  /** True when the answer waited for replies (Preference-Applied). */
  waited: boolean;
  /** True when every partner that applies has a final outcome. */
  complete: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    intake: IntakeService;
    intakeRepo: IntakeRepo;
    acceptOne(request: FastifyRequest, reply: FastifyReply, input: AcceptOneInput): Promise<AcceptedOne>;
  }
}

export interface IntakeOptions {
  pool: Pool;
  producer: BatchingProducer;
  topic: string;
  clock: Clock;
  retryAfterSeconds: number;
}

export default fp(
  async (fastify: FastifyInstance, { pool, producer, topic, clock, retryAfterSeconds }: IntakeOptions) => {
    const repo = createIntakeRepo(pool);
    const intake = createIntakeService({
      repo,
      producer,
      topic,
      clock,
      retryAfterSeconds,
      logger: fastify.log,
      metrics: fastify.metrics.intake,
    });
    fastify.decorate('intake', intake);
    fastify.decorate('intakeRepo', repo);
    fastify.addHook('onClose', async () => intake.drain());

    fastify.decorate('acceptOne', async (request: FastifyRequest, reply: FastifyReply, input: AcceptOneInput) => {
      const app = request.auth?.app;
      if (!app) throw new GatewayError('API_KEY_MISSING');
      const hash = bodyHash(input.record);
      const idempotencyKey = idempotencyKeyOf(input.idempotencyHeader, input.record, hash);
      const [claimed] = await intake.claim(app.id, [
        { kind: input.kind, record: input.record, idempotencyKey, bodyHash: hash, requestId: request.id },
      ]);
      if (!claimed) throw new GatewayError('INTERNAL', 'no claim result');
      Object.assign(request.logFields, { requestId: claimed.requestId, deviceKey: claimed.deviceKey });

      const expected = input.waitSeconds ? expectedPartners(app, input.kind, input.record) : [];
      // Watch before producing: a reply can then never arrive unseen between the ack and the wait.
      const watch = expected.length > 0 && claimed.state !== 'conflict' ? fastify.replies.watch(claimed.requestId) : undefined;
      try {
        const [result] = await intake.produce(app.id, [claimed]);
        if (!result?.ok) {
          const error = result?.error ?? new GatewayError('INTERNAL');
          // The intake row holds the key: a retry with the same key (or body) gets this request id.
          if (error.code !== 'IDEMPOTENCY_CONFLICT') error.extra = { ...error.extra, requestId: claimed.requestId };
          fastify.metrics.records.inc({ result: error.code === 'IDEMPOTENCY_CONFLICT' ? 'conflict' : 'unavailable' });
          throw error;
        }
        const state = claimed.state as AcceptedOne['state'];
        fastify.metrics.records.inc({ result: state === 'new' ? 'accepted' : 'replayed' });
        request.logFields.outcome = state === 'new' ? 'accepted' : 'replayed';
        if (!watch) return { ...claimed, state, replies: [], waited: false, complete: false };

        // The replies may be stored already (a replayed request, or a fast worker): look once.
        const stored = await fastify.outcomes.forRequest(claimed.requestId).catch((err: unknown) => {
          request.log.warn({ err }, 'could not read stored outcomes');
          return [];
        });
        watch.add(stored.map((o) => o.reply));
        fastify.metrics.waiting.inc();
        const remainingMs = (input.waitSeconds ?? 0) * 1000 - reply.elapsedTime;
        const complete = await watch
          .until((replies) => isComplete(expected, replies), remainingMs)
          .finally(() => fastify.metrics.waiting.dec());
        fastify.metrics.waits.inc({ result: complete ? 'satisfied' : 'timed_out' });
        return { ...claimed, state, replies: [...watch.replies.values()], waited: true, complete };
      } finally {
        watch?.close();
      }
    });
  },
  { name: 'intake', dependencies: ['metrics', 'replies', 'request-log'] },
);
