/**
 * Canonical intake: POST /v1/sessions and /v1/events (one record each), POST /v1/batch.
 *
 * Batch semantics (all-or-nothing validation, per-item results):
 *   1. every item is validated first; if any is invalid → 400 listing every failing field as
 *      `records.<i>.record.<field>`, and nothing is produced; an item of another app → 403;
 *   2. then all items are claimed (one Postgres round trip) and produced in the given order;
 *   3. the answer lists one result per item, in order: 202 when every item is accepted or replayed,
 *      else 207 with each item's own status (409 conflict, 503 Kafka unavailable + Retry-After).
 * The batch's Idempotency-Key header gives item i the key `<header>#<i>`; an item's own
 * `idempotencyKey` wins. `Prefer: wait` is not applied to batches.
 */
import {
  bodyHash,
  EventRecord,
  type FieldError,
  fieldErrors,
  newRequestId,
  type RecordKind,
  SessionRecord,
} from '@s2s/contracts';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GatewayError, problemOf } from '../../errors.js';
import { idempotencyHeader, idempotencyKeyOf } from '../../intake/headers.js';
import type { IntakeItem } from '../../intake/service.js';
import { eventSchema, preferHeader, problemSchema, requestViewSchema, sessionSchema } from '../../schemas.js';
import { sendAccepted, waitSecondsOf } from '../answers.js';

const SCHEMAS = { session: SessionRecord, event: EventRecord } as const;

export interface RecordsOptions {
  batchMax: number;
  maxWaitSeconds: number;
}

function validate(kind: RecordKind, body: unknown) {
  const parsed = SCHEMAS[kind].safeParse(body);
  return parsed.success
    ? { record: parsed.data, errors: [] as FieldError[] }
    : { record: undefined, errors: fieldErrors(parsed.error) };
}

export default async function records(fastify: FastifyInstance, { batchMax, maxWaitSeconds }: RecordsOptions) {
  fastify.addHook('onRequest', fastify.requireApp);
  const responses = { 200: requestViewSchema, 202: requestViewSchema, '4xx': problemSchema, '5xx': problemSchema };

  for (const [kind, path, schema] of [
    ['session', '/v1/sessions', sessionSchema],
    ['event', '/v1/events', eventSchema],
  ] as const) {
    fastify.post(
      path,
      {
        config: { intake: true, rateLimit: {} },
        schema: { summary: `Send one ${kind}`, body: schema, headers: preferHeader, response: responses },
      },
      async (request, reply) => {
        const app = request.auth!.app;
        const { record, errors } = validate(kind, request.body);
        if (!record) {
          fastify.metrics.records.inc({ result: 'invalid' });
          throw new GatewayError('VALIDATION_FAILED', `${errors.length} field(s) are not valid`, { errors });
        }
        if (record.appId !== app.id)
          throw new GatewayError('APP_MISMATCH', `the API key belongs to app ${app.id}, the record to ${record.appId}`);
        const waitSeconds = waitSecondsOf(request, maxWaitSeconds);
        const accepted = await fastify.acceptOne(request, reply, {
          kind,
          record,
          idempotencyHeader: idempotencyHeader(request.headers['idempotency-key']),
          waitSeconds,
        });
        return sendAccepted(reply, accepted, waitSeconds);
      },
    );
  }

  const Batch = z
    .object({
      records: z
        .array(
          z
            .object({
              kind: z.enum(['session', 'event']),
              record: z.unknown(),
              idempotencyKey: z
                .string()
                .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1–255 visible ASCII characters')
                .optional(),
            })
            .strict(),
        )
        .min(1, 'must hold at least one record')
        .max(batchMax, `must hold at most ${batchMax} records`),
    })
    .strict();

  fastify.post(
    '/v1/batch',
    {
      config: { intake: true, rateLimit: {} },
      schema: {
        summary: `Send up to ${batchMax} records, validated all-or-nothing, with one result per item`,
        body: {
          type: 'object',
          properties: {
            records: {
              type: 'array',
              maxItems: batchMax,
              items: {
                type: 'object',
                properties: {
                  kind: { type: 'string', enum: ['session', 'event'] },
                  record: { oneOf: [sessionSchema, eventSchema] },
                  idempotencyKey: { type: 'string' },
                },
                required: ['kind', 'record'],
              },
            },
          },
          required: ['records'],
        },
        response: { '4xx': problemSchema, '5xx': problemSchema },
      },
    },
    async (request, reply) => {
      const app = request.auth!.app;
      const envelope = Batch.safeParse(request.body);
      if (!envelope.success) {
        fastify.metrics.records.inc({ result: 'invalid' });
        throw new GatewayError('VALIDATION_FAILED', 'the batch is not valid', { errors: fieldErrors(envelope.error) });
      }
      const entries = envelope.data.records;
      const errors: FieldError[] = [];
      const mismatched: number[] = [];
      const checked = entries.map((entry, i) => {
        const { record, errors: errs } = validate(entry.kind, entry.record);
        for (const e of errs)
          errors.push({ field: `records.${i}.record${e.field === '(body)' ? '' : `.${e.field}`}`, message: e.message });
        if (record && record.appId !== app.id) mismatched.push(i);
        return record;
      });
      request.logFields.records = entries.length;
      if (errors.length > 0) {
        fastify.metrics.records.inc({ result: 'invalid' }, entries.length);
        throw new GatewayError('VALIDATION_FAILED', `${errors.length} field(s) are not valid; nothing was accepted`, { errors });
      }
      if (mismatched.length > 0)
        throw new GatewayError('APP_MISMATCH', `records ${mismatched.join(', ')} are not of app ${app.id}; nothing was accepted`);

      const header = idempotencyHeader(request.headers['idempotency-key']);
      const items: IntakeItem[] = entries.map((entry, i) => {
        const record = checked[i]!;
        const hash = bodyHash(record);
        const key = entry.idempotencyKey ?? (header !== undefined ? `${header}#${i}` : undefined);
        return {
          kind: entry.kind,
          record,
          idempotencyKey: idempotencyKeyOf(key, record, hash),
          bodyHash: hash,
          requestId: newRequestId(),
        };
      });
      const claimed = await fastify.intake.claim(app.id, items);
      const produced = await fastify.intake.produce(app.id, claimed);
      let retryAfter: number | undefined;
      const results = produced.map((r, i) => {
        const c = claimed[i]!;
        if (r.ok) {
          const status = c.state === 'new' ? 'accepted' : 'replayed';
          fastify.metrics.records.inc({ result: status });
          return { index: i, status: c.state === 'new' ? 202 : 200, result: status, requestId: c.requestId };
        }
        retryAfter = r.error.retryAfter ?? retryAfter;
        fastify.metrics.records.inc({ result: r.error.code === 'IDEMPOTENCY_CONFLICT' ? 'conflict' : 'unavailable' });
        return { index: i, status: r.error.status, result: r.error.code, requestId: c.requestId, problem: problemOf(r.error) };
      });
      const allOk = produced.every((r) => r.ok);
      request.logFields.outcome = allOk ? 'accepted' : 'partial';
      if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
      return reply.code(allOk ? 202 : 207).send({ results });
    },
  );
}
