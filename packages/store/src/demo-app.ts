/**
 * The demo app `npm start` creates: every partner on, wired to the partner sandbox's defaults
 * (services/partner-sandbox: Singular SDK key, Oath data provider and HMAC key, Onside, DDL).
 * Safe to run at every start: settings are upserted and the app re-enabled.
 */
import type pg from 'pg';
import { createAppsRepo, newApiKey } from './apps.js';

export const DEMO_APP_SETTINGS = {
  singularSdkKey: 'sandbox-sdk-key',
  oathDataProviderId: 'sandbox-dp',
  oathHmacKey: 'sandbox-oath-key',
  onsideEnabled: true,
  ddlEnabled: true,
} as const;

export interface DemoApp {
  appId: string;
  /** The key in clear: `DEMO_API_KEY` when given, else a new key (earlier keys stay valid). */
  apiKey: string;
}

/**
 * Creates or refreshes the demo app. Reads `DEMO_APP_ID` (default `demo`), `DEMO_API_KEY` (the key to
 * install; a fresh one when absent, since stored keys are hashed and cannot be shown again) and
 * `SANDBOX_OATH_KEY` (the sandbox's Oath HMAC key, default `sandbox-oath-key`).
 */
export async function ensureDemoApp(pool: pg.Pool, env: NodeJS.ProcessEnv = process.env): Promise<DemoApp> {
  const appId = env.DEMO_APP_ID || 'demo';
  const apiKey = env.DEMO_API_KEY || newApiKey();
  const { app } = await createAppsRepo(pool).upsert(
    {
      id: appId,
      name: 'Demo (partner sandbox)',
      ...DEMO_APP_SETTINGS,
      oathHmacKey: env.SANDBOX_OATH_KEY || DEMO_APP_SETTINGS.oathHmacKey,
    },
    apiKey,
  );
  return { appId: app.id, apiKey };
}
