/**
 * The privacy and hybrid-integration repositories the routes share: postbacks into the device graph,
 * app settings (postback secrets), consent, erasure.
 */
import {
  type AppSettings,
  type ConsentRepo,
  createAppSettings,
  createConsentRepo,
  createPostbacksRepo,
  createPrivacyRepo,
  type Pool,
  type PostbacksRepo,
  type PrivacyRepo,
} from '@s2s/store';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyInstance {
    privacy: { postbacks: PostbacksRepo; settings: AppSettings; consent: ConsentRepo; erasure: PrivacyRepo };
  }
}

export default fp(
  async (fastify: FastifyInstance, { pool }: { pool: Pool }) => {
    fastify.decorate('privacy', {
      postbacks: createPostbacksRepo(pool),
      settings: createAppSettings(pool),
      consent: createConsentRepo(pool),
      erasure: createPrivacyRepo(pool),
    });
  },
  { name: 'privacy' },
);
