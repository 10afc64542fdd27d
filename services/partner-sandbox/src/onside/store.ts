/**
 * What the Onside emulator remembers: installations per request token (S-N6), the Onside Store
 * sessions it matches installs against (§3.3), the forgeries queued for the next answers (§3.6),
 * and its signing keys.
 */
import { z } from 'zod';
import type { KeyRing } from './keys.js';
import { type StoredSession, toStored } from './matching.js';

export const AttributionData = z
  .object({
    marketing_campaign: z.string().optional(),
    source: z.string().optional(),
    tags: z.array(z.string()).optional(),
    click_id: z.string().optional(),
  })
  .catchall(z.unknown());

export const StoreSession = z
  .object({
    /** The store user's IP, compared with the install request's client IP. */
    ip: z.string().min(1),
    /** Store user ID; several sessions of one user count as one candidate. */
    user: z.string().min(1),
    /** Device traits used to break ties between users on one IP (S-N8). */
    device: z
      .object({
        device_model: z.string().optional(),
        os_version: z.string().optional(),
        language: z.string().optional(),
        availableCapacity: z.number().int().nonnegative().optional(),
      })
      .strict()
      .default({}),
    /** When the session happened: ISO-8601 or Unix ms. Default: when the scenario is posted. Only the last 24 h count. */
    time: z.union([z.iso.datetime({ offset: true }), z.number().int().nonnegative()]).optional(),
    /** The user's attribution; absent means organic. */
    attribution_data: AttributionData.optional(),
  })
  .strict();
export type StoreSession = z.output<typeof StoreSession>;

export const OnsideScenarios = z.object({ storeSessions: z.array(StoreSession).default([]) }).strict();
export type OnsideScenarios = z.output<typeof OnsideScenarios>;

export const FORGE_MODES = [
  'bad-signature',
  'wrong-aud',
  'wrong-iss',
  'expired',
  'future-iat',
  'mismatched-request-token',
  'unknown-kid',
  'alg-none',
  'alg-hs256',
] as const;
export type ForgeMode = (typeof FORGE_MODES)[number];

export const ForgeRequest = z
  .object({
    mode: z.enum(FORGE_MODES),
    /** How many answers to forge. */
    count: z.number().int().min(1).default(1),
    /** Only answers to this request token. */
    token: z.string().min(1).optional(),
  })
  .strict();
export type ForgeRequest = z.output<typeof ForgeRequest>;

export interface Installation {
  installationToken: string;
  attribution_data?: Record<string, unknown>;
  user?: string;
}

export class OnsideStore {
  readonly installations = new Map<string, Installation>();
  sessions: StoredSession[] = [];
  forges: ForgeRequest[] = [];

  constructor(readonly keys: KeyRing) {}

  addScenarios(s: OnsideScenarios, now: number): void {
    for (const x of s.storeSessions) this.sessions.push(toStored(x, now));
  }

  clearScenarios(): void {
    this.sessions = [];
  }

  /** The forgery for the next answer to `token`, if one is queued. */
  takeForge(token: string): ForgeMode | undefined {
    const i = this.forges.findIndex((f) => f.token === undefined || f.token === token);
    if (i < 0) return undefined;
    const f = this.forges[i]!;
    if (--f.count <= 0) this.forges.splice(i, 1);
    return f.mode;
  }

  reset(): void {
    this.installations.clear();
    this.forges = [];
    this.clearScenarios();
  }
}
