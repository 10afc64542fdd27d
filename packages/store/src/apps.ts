/**
 * Apps, their API keys and per-partner settings. Keys are random (32 bytes, base64url, prefixed
 * `s2s_`), shown once when made, stored as SHA-256; several may be active per app for rotation.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';

export type IntegrationMode = 'pure' | 'hybrid';

export interface App {
  id: string;
  name: string;
  status: 'active' | 'disabled';
  mode: IntegrationMode;
  ddlEnabled: boolean;
  /** Present when the app forwards to Singular. */
  singular?: { sdkKey: string };
  /** Present when the app forwards installs to Oath. */
  oath?: { dataProviderId: string; hmacKey: string };
  onside?: { enabled: true };
}

export interface NewApp {
  id: string;
  name?: string;
  mode?: IntegrationMode;
  ddlEnabled?: boolean;
  singularSdkKey?: string;
  oathDataProviderId?: string;
  oathHmacKey?: string;
  onsideEnabled?: boolean;
}

export interface ApiKeyInfo {
  prefix: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function newApiKey(): string {
  return `s2s_${randomBytes(32).toString('base64url')}`;
}

interface AppRow {
  id: string;
  name: string;
  status: 'active' | 'disabled';
  integration_mode: IntegrationMode;
  ddl_enabled: boolean;
  singular_sdk_key: string | null;
  oath_data_provider_id: string | null;
  oath_hmac_key: string | null;
  onside_enabled: boolean;
}

function toApp(r: AppRow): App {
  const app: App = { id: r.id, name: r.name, status: r.status, mode: r.integration_mode, ddlEnabled: r.ddl_enabled };
  if (r.singular_sdk_key) app.singular = { sdkKey: r.singular_sdk_key };
  if (r.oath_data_provider_id && r.oath_hmac_key)
    app.oath = { dataProviderId: r.oath_data_provider_id, hmacKey: r.oath_hmac_key };
  if (r.onside_enabled) app.onside = { enabled: true };
  return app;
}

const APP_COLUMNS =
  'id, name, status, integration_mode, ddl_enabled, singular_sdk_key, oath_data_provider_id, oath_hmac_key, onside_enabled';

export function createAppsRepo(pool: pg.Pool) {
  return {
    async get(id: string): Promise<App | undefined> {
      const { rows } = await pool.query<AppRow>(`SELECT ${APP_COLUMNS} FROM apps WHERE id = $1`, [id]);
      return rows[0] ? toApp(rows[0]) : undefined;
    },

    async list(): Promise<(App & { keys: ApiKeyInfo[] })[]> {
      const { rows } = await pool.query<AppRow>(`SELECT ${APP_COLUMNS} FROM apps ORDER BY id`);
      const keys = await pool.query<{ app_id: string; prefix: string; created_at: Date; revoked_at: Date | null }>(
        'SELECT app_id, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at',
      );
      return rows.map((r) => ({
        ...toApp(r),
        keys: keys.rows
          .filter((k) => k.app_id === r.id)
          .map((k) => ({ prefix: k.prefix, createdAt: k.created_at, revokedAt: k.revoked_at })),
      }));
    },

    /** Creates the app (or updates its settings when it exists) and, unless given one, a new API key. Returns the key in clear. */
    async upsert(app: NewApp, apiKey: string = newApiKey()): Promise<{ app: App; apiKey: string }> {
      const { rows } = await pool.query<AppRow>(
        `INSERT INTO apps (id, name, integration_mode, ddl_enabled, singular_sdk_key, oath_data_provider_id, oath_hmac_key, onside_enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, integration_mode = EXCLUDED.integration_mode,
           ddl_enabled = EXCLUDED.ddl_enabled, singular_sdk_key = EXCLUDED.singular_sdk_key,
           oath_data_provider_id = EXCLUDED.oath_data_provider_id, oath_hmac_key = EXCLUDED.oath_hmac_key,
           onside_enabled = EXCLUDED.onside_enabled, status = 'active', updated_at = now()
         RETURNING ${APP_COLUMNS}`,
        [
          app.id,
          app.name ?? app.id,
          app.mode ?? 'pure',
          app.ddlEnabled ?? false,
          app.singularSdkKey ?? null,
          app.oathDataProviderId ?? null,
          app.oathHmacKey ?? null,
          app.onsideEnabled ?? false,
        ],
      );
      await this.addKey(app.id, apiKey);
      return { app: toApp(rows[0] as AppRow), apiKey };
    },

    /** Adds an API key to an app (rotation: add the new key, deploy it, then revoke the old one). */
    async addKey(appId: string, apiKey: string = newApiKey()): Promise<string> {
      await pool.query(
        `INSERT INTO api_keys (key_hash, app_id, prefix) VALUES ($1, $2, $3)
         ON CONFLICT (key_hash) DO UPDATE SET revoked_at = NULL WHERE api_keys.app_id = EXCLUDED.app_id`,
        [hashApiKey(apiKey), appId, apiKey.slice(0, 10)],
      );
      return apiKey;
    },

    /** Revokes keys of an app by prefix (as shown by `list`); returns how many were revoked. */
    async revokeKey(appId: string, prefix: string): Promise<number> {
      const r = await pool.query(
        'UPDATE api_keys SET revoked_at = now() WHERE app_id = $1 AND prefix = $2 AND revoked_at IS NULL',
        [appId, prefix],
      );
      return r.rowCount ?? 0;
    },

    async setStatus(appId: string, status: 'active' | 'disabled'): Promise<boolean> {
      const r = await pool.query('UPDATE apps SET status = $2, updated_at = now() WHERE id = $1', [appId, status]);
      return (r.rowCount ?? 0) > 0;
    },

    /** The app an API key belongs to, when the key is known and not revoked (the app may be disabled). */
    async authenticate(apiKey: string): Promise<App | undefined> {
      const { rows } = await pool.query<AppRow>(
        `SELECT ${APP_COLUMNS.split(', ')
          .map((c) => `a.${c}`)
          .join(', ')} FROM api_keys k JOIN apps a ON a.id = k.app_id
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL`,
        [hashApiKey(apiKey)],
      );
      return rows[0] ? toApp(rows[0]) : undefined;
    },
  };
}
export type AppsRepo = ReturnType<typeof createAppsRepo>;
