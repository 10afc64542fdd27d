/**
 * App settings added by issue 7: the integration mode (`pure`: the relay sends sessions and events
 * and keeps session-first; `hybrid`: the Singular SDK owns sessions, the relay sends events only) and
 * the secret Singular's Internal BI postbacks authenticate with. A postback secret is random
 * (32 bytes, base64url, prefixed `pbs_`), shown once when made, stored as SHA-256; making a new one
 * replaces the old one at once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import type { IntegrationMode } from './apps.js';

export function newPostbackSecret(): string {
  return `pbs_${randomBytes(32).toString('base64url')}`;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

export interface PostbackSecretInfo {
  prefix: string;
  createdAt: Date;
}

export function createAppSettings(pool: pg.Pool) {
  return {
    /** Sets an app's integration mode; false when there is no such app. */
    async setMode(appId: string, mode: IntegrationMode): Promise<boolean> {
      const r = await pool.query('UPDATE apps SET integration_mode = $2, updated_at = now() WHERE id = $1', [appId, mode]);
      return (r.rowCount ?? 0) > 0;
    },

    /** Makes the app's postback secret (replacing any earlier one) and returns it in clear; undefined when no such app. */
    async rotatePostbackSecret(appId: string, secret: string = newPostbackSecret()): Promise<string | undefined> {
      const r = await pool.query(
        `UPDATE apps SET postback_secret_hash = $2, postback_secret_prefix = $3, postback_secret_created_at = now(),
           updated_at = now() WHERE id = $1`,
        [appId, sha256(secret).toString('hex'), secret.slice(0, 10)],
      );
      return (r.rowCount ?? 0) > 0 ? secret : undefined;
    },

    async postbackSecretInfo(appId: string): Promise<PostbackSecretInfo | undefined> {
      const { rows } = await pool.query<{ prefix: string | null; created_at: Date | null }>(
        'SELECT postback_secret_prefix AS prefix, postback_secret_created_at AS created_at FROM apps WHERE id = $1',
        [appId],
      );
      const r = rows[0];
      return r?.prefix && r.created_at ? { prefix: r.prefix, createdAt: r.created_at } : undefined;
    },

    /**
     * Whether `secret` is the postback secret of an active app. Compared in constant time on the
     * hashes; an unknown app, a disabled app and an app without a secret all answer false.
     */
    async verifyPostbackSecret(appId: string, secret: string): Promise<boolean> {
      const { rows } = await pool.query<{ postback_secret_hash: string | null }>(
        `SELECT postback_secret_hash FROM apps WHERE id = $1 AND status = 'active'`,
        [appId],
      );
      const stored = rows[0]?.postback_secret_hash;
      if (!stored) return false;
      return timingSafeEqual(Buffer.from(stored, 'hex'), sha256(secret));
    },
  };
}
export type AppSettings = ReturnType<typeof createAppSettings>;
