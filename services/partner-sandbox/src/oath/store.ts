/**
 * What the Oath emulator remembers: the answer given to each request `id` (a repeat gets the same
 * answer and is flagged a duplicate, S-O13) and the scripted claims per `mi` or IP (S-O11).
 */
import { z } from 'zod';

/** One claim; every field may be given, the rest is filled with placeholders (S-O10). */
export const OathClaim = z
  .object({
    timestamp_ms: z.number().int().optional(),
    event_type: z.number().int().optional(),
    creative_id: z.number().int().optional(),
    creative_name: z.string().optional(),
    adgroup_id: z.number().int().optional(),
    adgroup_name: z.string().optional(),
    campaign_id: z.number().int().optional(),
    campaign_name: z.string().optional(),
    advertiser_id: z.number().int().optional(),
    advertiser_name: z.string().optional(),
    site_id: z.string().optional(),
    ip_address: z.string().optional(),
    demand_platform_id: z.number().int().optional(),
    campaign_type: z.string().optional(),
  })
  .catchall(z.unknown());

export const OathScenarios = z
  .object({
    claims: z
      .array(
        z
          .object({
            /** The install's `mi` (case-insensitive). */
            mi: z.string().min(1).optional(),
            /** The install's `ip` or `ipv6`. */
            ip: z.string().min(1).optional(),
            /** Claims returned on a match (several matching entries add up). */
            claims: z.array(OathClaim).default([{}]),
          })
          .strict()
          .refine((s) => s.mi !== undefined || s.ip !== undefined, { message: 'mi or ip is required', path: ['mi'] }),
      )
      .default([]),
  })
  .strict();
export type OathScenarios = z.output<typeof OathScenarios>;

export interface OathAnswer {
  body: Record<string, unknown>;
  outcome: string;
}

export class OathStore {
  readonly answers = new Map<string, OathAnswer>();
  scenarios: OathScenarios = { claims: [] };

  addScenarios(s: OathScenarios): void {
    this.scenarios.claims.push(...s.claims);
  }

  clearScenarios(): void {
    this.scenarios = { claims: [] };
  }

  reset(): void {
    this.answers.clear();
    this.clearScenarios();
  }

  /** Claims for an install, filled out; an all-zero `mi` matches by IP only. */
  claimsFor(mi: string | undefined, ips: string[], firstLaunchMs: number): Record<string, unknown>[] {
    const lower = mi?.toLowerCase();
    const out: Record<string, unknown>[] = [];
    for (const s of this.scenarios.claims) {
      const byMi = lower !== undefined && s.mi !== undefined && s.mi.toLowerCase() === lower;
      const byIp = s.ip !== undefined && ips.includes(s.ip);
      if (!byMi && !byIp) continue;
      for (const c of s.claims) out.push(fillClaim(c, ips[0] ?? '', firstLaunchMs));
    }
    return out;
  }
}

/** Placeholder values for the fields a scenario left out; `campaign_type` strings are placeholders (S-O10). */
function fillClaim(c: z.output<typeof OathClaim>, ip: string, firstLaunchMs: number): Record<string, unknown> {
  return {
    timestamp_ms: firstLaunchMs - 60_000,
    event_type: 200,
    creative_id: 1923847162,
    creative_name: 'sandbox creative',
    adgroup_id: 1324182736,
    adgroup_name: 'sandbox ad group',
    campaign_id: 302934875,
    campaign_name: 'sandbox campaign',
    advertiser_id: 908733,
    advertiser_name: 'sandbox advertiser',
    site_id: 'sandbox-site',
    ip_address: ip,
    demand_platform_id: 1,
    campaign_type: 'app_install',
    ...c,
  };
}
