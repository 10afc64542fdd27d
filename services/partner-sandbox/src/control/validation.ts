/**
 * Control-plane input checking: a zod schema per body or query, and a 400 problem+json listing
 * every failing field when it does not hold.
 */
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';

export interface FieldError {
  field: string;
  message: string;
}

export function sendProblem(reply: FastifyReply, status: number, title: string, detail: string, errors?: FieldError[]) {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title, status, detail, ...(errors ? { errors } : {}) });
}

/** The parsed value, or undefined after answering 400 with the failing fields. */
export function parseOr400<S extends z.ZodType>(
  reply: FastifyReply,
  schema: S,
  input: unknown,
  what: string,
): z.output<S> | undefined {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const errors = r.error.issues.map((i) => ({ field: i.path.join('.') || '(root)', message: i.message }));
  sendProblem(reply, 400, `Invalid ${what}`, `invalid fields: ${errors.map((e) => e.field).join(', ')}`, errors);
  return undefined;
}
