/**
 * Fault injection: rules posted to `/_sandbox/faults`, picked per partner request.
 *
 * Rules are tried in the order they were added; the first one that matches (partner, path prefix,
 * device) and wins its `rate` roll decides the request. A rule with `count` expires after firing
 * that many times. `afterProcessing` lets the partner act on the request (state changes, log entry
 * with the real outcome) before the fault replaces the answer: the "call left in doubt" case.
 */
import { z } from 'zod';
import type { Partner } from '../request-log.js';

const LatencyMs = z.union([
  z.number().int().min(0).max(600_000),
  z
    .object({ min: z.number().int().min(0).max(600_000), max: z.number().int().min(0).max(600_000) })
    .strict()
    .refine((r) => r.min <= r.max, { message: 'min must not exceed max', path: ['min'] }),
]);

const Status = z.number().int().min(200).max(599);

export const FaultRule = z
  .object({
    /** Which emulator the rule applies to. */
    partner: z.enum(['singular', 'oath', 'onside', 'all']),
    /** latency: delay, then answer normally; error: answer `status`; timeout: never answer; drop: destroy the socket. */
    kind: z.enum(['latency', 'error', 'timeout', 'drop']),
    /** Delay before the rule acts, ms: fixed, or drawn uniformly from {min, max}. */
    latencyMs: LatencyMs.optional(),
    /** Probability that a matching request is hit, 0..1. */
    rate: z.number().min(0).max(1).default(1),
    /** kind=error: HTTP status, or a list used in turn. Default 503. */
    status: z.union([Status, z.array(Status).min(1)]).optional(),
    /** kind=error: body to send instead of `{"error":"sandbox fault"}` (e.g. a Singular error envelope at 200). */
    body: z.unknown().optional(),
    /** kind=error: value of a Retry-After header, seconds. */
    retryAfter: z.number().int().min(0).optional(),
    /** Only requests naming this device (any Singular ID, Oath `mi`, Onside `token`), case-insensitive. */
    device: z.string().min(1).optional(),
    /** Only requests whose path starts with this (e.g. `/onside/.well-known/jwks.json`). */
    path: z.string().startsWith('/').optional(),
    /** Fire this many times, then expire. */
    count: z.number().int().min(1).optional(),
    /** Let the partner process the request first (state, log), then apply the fault to the answer. */
    afterProcessing: z.boolean().default(false),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.kind === 'latency' && r.latencyMs === undefined)
      ctx.addIssue({ code: 'custom', path: ['latencyMs'], message: 'required when kind is latency' });
    if (r.kind !== 'error' && (r.status !== undefined || r.body !== undefined || r.retryAfter !== undefined))
      ctx.addIssue({ code: 'custom', path: ['status'], message: 'status, body and retryAfter apply to kind error only' });
  });
export type FaultRule = z.output<typeof FaultRule>;

export interface ActiveFault extends FaultRule {
  id: number;
  fired: number;
}

/** What a picked rule does to one request. */
export interface FaultAction {
  id: number;
  kind: FaultRule['kind'];
  latencyMs: number;
  status: number;
  body: unknown;
  retryAfter: number | undefined;
  afterProcessing: boolean;
}

export class FaultStore {
  private rules: ActiveFault[] = [];
  private nextId = 1;

  constructor(private readonly random: () => number) {}

  add(rules: FaultRule[]): ActiveFault[] {
    const added = rules.map((r) => ({ ...r, id: this.nextId++, fired: 0 }));
    this.rules.push(...added);
    return added;
  }

  list(): ActiveFault[] {
    return [...this.rules];
  }

  clear(partner?: Partner | 'all'): void {
    this.rules = partner ? this.rules.filter((r) => r.partner !== partner) : [];
  }

  /** The fault for one request, or undefined. `devices` are lower-cased. */
  pick(partner: Partner, path: string, devices: readonly string[]): FaultAction | undefined {
    if (this.rules.length === 0) return undefined;
    for (let i = 0; i < this.rules.length; i++) {
      const r = this.rules[i]!;
      if (r.partner !== 'all' && r.partner !== partner) continue;
      if (r.path !== undefined && !path.startsWith(r.path)) continue;
      if (r.device !== undefined && !devices.includes(r.device.toLowerCase())) continue;
      if (r.rate < 1 && this.random() >= r.rate) continue;
      r.fired++;
      if (r.count !== undefined && r.fired >= r.count) this.rules.splice(i, 1);
      return {
        id: r.id,
        kind: r.kind,
        latencyMs: this.latency(r.latencyMs),
        status: this.status(r),
        body: r.body,
        retryAfter: r.retryAfter,
        afterProcessing: r.afterProcessing,
      };
    }
    return undefined;
  }

  private latency(l: FaultRule['latencyMs']): number {
    if (l === undefined) return 0;
    if (typeof l === 'number') return l;
    return l.min + Math.floor(this.random() * (l.max - l.min + 1));
  }

  /** A list of statuses is used in turn, so a test can script "503, then 429, then 500". */
  private status(r: ActiveFault): number {
    if (r.status === undefined) return 503;
    if (typeof r.status === 'number') return r.status;
    return r.status[(r.fired - 1) % r.status.length]!;
  }
}
