/**
 * JSON Schemas of the routes, for the OpenAPI document only: requests are validated by the contracts'
 * zod schemas in the handlers (so that every failing field is listed, refinements included), never by
 * these. They are generated from the same zod schemas, so the document cannot drift from the code.
 */
import { EventRecord, SessionRecord } from '@s2s/contracts';
import { z } from 'zod';

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
  return rest;
}

export const sessionSchema = jsonSchema(SessionRecord);
export const eventSchema = jsonSchema(EventRecord);

export const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'stable error code, see /docs/errors' },
    retryable: { type: 'boolean' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { field: { type: 'string' }, message: { type: 'string' } } },
    },
  },
  required: ['type', 'title', 'status', 'code'],
};

const partnerReply = {
  type: 'object',
  properties: {
    outcome: { type: 'string', enum: ['forwarded', 'suppressed', 'parked', 'dlq'] },
    reason: { type: 'string' },
    inDoubt: { type: 'boolean' },
    at: { type: 'string', format: 'date-time' },
    answer: { type: 'object', description: "the partner's answer (Singular deep links, Oath claims, Onside token)" },
  },
};

export const requestViewSchema = {
  type: 'object',
  properties: {
    requestId: { type: 'string', format: 'uuid' },
    status: { type: 'string', enum: ['pending', 'accepted', 'parked', 'failed', 'forwarded', 'suppressed'] },
    complete: { type: 'boolean', description: 'under Prefer: wait, every partner that applies has answered' },
    replies: {
      type: 'object',
      properties: { singular: partnerReply, oath: partnerReply, onside: partnerReply },
    },
  },
  required: ['requestId', 'status'],
};

export const preferHeader = {
  type: 'object',
  properties: {
    prefer: { type: 'string', description: "RFC 7240 `wait=N`: hold the answer up to N seconds for the partners' replies" },
    'idempotency-key': { type: 'string', description: 'Idempotency key (else the eventId, else the body hash)' },
  },
};
