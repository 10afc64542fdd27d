/**
 * What the Singular emulator remembers: devices per (app, device key), the requests it has seen
 * (to flag duplicates, which real Singular would count twice), and the scripted outcomes.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

const Match = {
  /** Any device ID the request carries (case-insensitive). */
  device: z.string().min(1).optional(),
  /** The request's `ip`. */
  ip: z.string().min(1).optional(),
  /** Only for this app (`i`). */
  app: z.string().min(1).optional(),
};
const needsDeviceOrIp = (s: { device?: string | undefined; ip?: string | undefined }) =>
  s.device !== undefined || s.ip !== undefined;

export const SingularScenarios = z
  .object({
    /** Deferred deep links, returned on a SESSION with install=true&ddl_enabled=true from a matching device or IP. */
    ddl: z
      .array(
        z
          .object({ ...Match, deferred_deeplink: z.string().min(1), deferred_passthrough: z.string().optional() })
          .strict()
          .refine(needsDeviceOrIp, { message: 'device or ip is required', path: ['device'] }),
      )
      .default([]),
    /** Short links, expanded on a SESSION with singular_link_resolve_required=true whose openuri is the link. */
    shortLinks: z
      .array(z.object({ openuri: z.string().min(1), resolved_singular_link: z.string().min(1), app: Match.app }).strict())
      .default([]),
    /** Extra fields added to `ok` answers (e.g. SKAN `conversion_value`, S17). No device and no ip: every request. */
    extraFields: z
      .array(
        z
          .object({
            ...Match,
            endpoint: z.enum(['launch', 'evt']).optional(),
            /** evt only: the event name `n`. */
            event: z.string().min(1).optional(),
            fields: z.record(z.string(), z.unknown()).refine((f) => !('status' in f), { message: 'status cannot be overridden' }),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();
export type SingularScenarios = z.output<typeof SingularScenarios>;

export interface SingularDevice {
  installs: number;
  sessions: number;
  events: number;
  eventsBeforeSession: number;
  /** Unix ms. */
  firstSessionAt?: number;
}

export interface RequestFacts {
  endpoint: 'launch' | 'evt';
  app: string;
  ip: string | undefined;
  devices: string[];
  event?: string | undefined;
  openuri?: string | undefined;
}

export class SingularStore {
  readonly devices = new Map<string, SingularDevice>();
  private seen = new Set<string>();
  scenarios: SingularScenarios = { ddl: [], shortLinks: [], extraFields: [] };

  device(app: string, key: string): SingularDevice | undefined {
    return this.devices.get(`${app}\u0000${key}`);
  }

  ensureDevice(app: string, key: string): SingularDevice {
    const id = `${app}\u0000${key}`;
    let d = this.devices.get(id);
    if (!d) {
      d = { installs: 0, sessions: 0, events: 0, eventsBeforeSession: 0 };
      this.devices.set(id, d);
    }
    return d;
  }

  /** True when this exact request (path and every parameter, byte for byte) came before for this device. */
  seenBefore(path: string, deviceKey: string, rawParams: string): boolean {
    // A digest keeps the memory per request small; collisions are out of reach for SHA-1 here.
    const h = createHash('sha1')
      .update(path)
      .update('\u0000')
      .update(deviceKey)
      .update('\u0000')
      .update(rawParams)
      .digest('base64');
    if (this.seen.has(h)) return true;
    this.seen.add(h);
    return false;
  }

  addScenarios(s: SingularScenarios): void {
    this.scenarios.ddl.push(...s.ddl);
    this.scenarios.shortLinks.push(...s.shortLinks);
    this.scenarios.extraFields.push(...s.extraFields);
  }

  clearScenarios(): void {
    this.scenarios = { ddl: [], shortLinks: [], extraFields: [] };
  }

  reset(): void {
    this.devices.clear();
    this.seen.clear();
    this.clearScenarios();
  }

  findDdl(f: RequestFacts) {
    return this.scenarios.ddl.find((s) => matches(s, f));
  }

  /** The short link is the whole `openuri`, or its part before a query string. */
  findShortLink(f: RequestFacts) {
    const uri = f.openuri;
    if (uri === undefined) return undefined;
    return this.scenarios.shortLinks.find(
      (s) => (s.app === undefined || s.app === f.app) && (uri === s.openuri || uri.startsWith(`${s.openuri}?`)),
    );
  }

  extraFields(f: RequestFacts): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const s of this.scenarios.extraFields) {
      if (s.endpoint !== undefined && s.endpoint !== f.endpoint) continue;
      if (s.event !== undefined && s.event !== f.event) continue;
      if ((s.device !== undefined || s.ip !== undefined) && !matches(s, f)) continue;
      if (s.app !== undefined && s.app !== f.app) continue;
      Object.assign(out, s.fields);
    }
    return out;
  }
}

function matches(
  s: { device?: string | undefined; ip?: string | undefined; app?: string | undefined },
  f: RequestFacts,
): boolean {
  if (s.app !== undefined && s.app !== f.app) return false;
  if (s.device !== undefined && f.devices.includes(s.device.toLowerCase())) return true;
  return s.ip !== undefined && s.ip === f.ip;
}
