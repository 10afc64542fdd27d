/** Shared pieces of the intake answers: the wait preference and the canonical accepted answer. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { preferWait } from '../intake/headers.js';
import type { AcceptedOne } from '../plugins/app/intake.js';
import { repliesView, statusOf } from '../replies/view.js';

/** Seconds to wait for replies: `Prefer: wait=N`, capped at MAX_WAIT_SECONDS. */
export function waitSecondsOf(request: FastifyRequest, max: number): number | undefined {
  const wait = preferWait(request.headers.prefer);
  return wait === undefined ? undefined : Math.min(wait, max);
}

/** Headers every accepted answer carries. */
export function acceptedHeaders(reply: FastifyReply, accepted: AcceptedOne, waitSeconds: number | undefined) {
  reply.header('location', `/v1/requests/${accepted.requestId}`);
  if (accepted.state !== 'new') reply.header('idempotent-replayed', 'true');
  if (accepted.waited) reply.header('preference-applied', `wait=${waitSeconds}`);
}

/** The canonical answer: 200 with the replies when complete, else 202 with what arrived so far. */
export function sendAccepted(reply: FastifyReply, accepted: AcceptedOne, waitSeconds: number | undefined) {
  acceptedHeaders(reply, accepted, waitSeconds);
  return reply.code(accepted.complete ? 200 : 202).send({
    requestId: accepted.requestId,
    status: statusOf(true, accepted.replies),
    complete: accepted.complete,
    replies: repliesView(accepted.replies),
  });
}
