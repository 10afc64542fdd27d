/**
 * Partner replies: the hub of waiting clients fed by the reply feed (every reply of every partition
 * reaches every gateway instance), and the outcomes workers stored in Postgres.
 */
import type { ReplyFeed } from '@s2s/bus';
import { createOutcomesRepo, type OutcomesRepo, type Pool } from '@s2s/store';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createReplyHub, type ReplyHub } from '../../replies/hub.js';

declare module 'fastify' {
  interface FastifyInstance {
    replies: ReplyHub;
    outcomes: OutcomesRepo;
  }
}

export interface RepliesOptions {
  pool: Pool;
  replyFeed: ReplyFeed;
}

export default fp(
  async (fastify: FastifyInstance, { pool, replyFeed }: RepliesOptions) => {
    const hub = createReplyHub();
    const unsubscribe = replyFeed.onReply((reply) => hub.deliver(reply));
    fastify.decorate('replies', hub);
    fastify.decorate('outcomes', createOutcomesRepo(pool));
    fastify.addHook('onClose', async () => unsubscribe());
  },
  { name: 'replies' },
);
