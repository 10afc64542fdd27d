/**
 * The in-memory log of every partner request the sandbox received: the test surface served at
 * `/_sandbox/requests`. It is hit at thousands of requests per second in benchmarks, so it is a
 * ring buffer (pushing is O(1), the oldest entry goes once `limit` is reached) with running counters
 * that `/_sandbox/stats` reads without walking the entries.
 *
 * Unlike the pino log, entries keep secrets (`a`, `bs`) as received: tests assert on them.
 */

export type Partner = 'singular' | 'oath' | 'onside';
export const PARTNERS: readonly Partner[] = ['singular', 'oath', 'onside'];

export interface RequestLogEntry {
  /** Position in arrival order, from 1; never reused, even after a clear. */
  seq: number;
  partner: Partner;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Request line as received (path and raw query). */
  url: string;
  /** Decoded query parameters (the first value of a repeated name). */
  query: Record<string, string>;
  /** Decoded body: form parameters (Singular POST), parsed JSON (Onside), else null. */
  body: unknown;
  /** ISO-8601 time the request arrived, from the sandbox clock. */
  receivedAt: string;
  /** Lower-cased device key (Singular: first present ID; Oath: `mi`; Onside: request `token`), or null. */
  deviceKey: string | null;
  /** What the partner made of it: install, session, event, organic, claimed, no-match, attributed, rejected, fault:<kind>... */
  outcome: string;
  /** Error text when the request was refused. */
  reason?: string;
  /** HTTP status answered (0 when no answer was sent: timeout or dropped connection). */
  status: number;
  warnings: string[];
  /** The partner has seen this exact request (Singular), request id (Oath) or token (Onside) before. */
  duplicate: boolean;
  /** The answer body as sent, when there was one. */
  response?: unknown;
  /** Partner-specific facts (parsed `ua` pairs, matched store user, installation token...). */
  details?: Record<string, unknown>;
}

export type NewEntry = Omit<RequestLogEntry, 'seq'>;

export interface LogFilter {
  partner?: Partner | undefined;
  device?: string | undefined;
  /** Only entries with a larger `seq` (for polling). */
  since?: number | undefined;
  limit?: number | undefined;
}

export interface PartnerStats {
  requests: number;
  duplicates: number;
  outcomes: Record<string, number>;
}

export class RequestLog {
  private items: RequestLogEntry[] = [];
  private start = 0;
  private lastSeq = 0;
  private stats = new Map<Partner, PartnerStats>();

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.items.length;
  }

  push(entry: NewEntry): RequestLogEntry {
    const full: RequestLogEntry = { seq: ++this.lastSeq, ...entry };
    if (this.items.length < this.limit) this.items.push(full);
    else {
      this.items[this.start] = full;
      this.start = (this.start + 1) % this.limit;
    }
    let s = this.stats.get(entry.partner);
    if (!s) {
      s = { requests: 0, duplicates: 0, outcomes: {} };
      this.stats.set(entry.partner, s);
    }
    s.requests++;
    if (entry.duplicate) s.duplicates++;
    s.outcomes[entry.outcome] = (s.outcomes[entry.outcome] ?? 0) + 1;
    return full;
  }

  /** Entries oldest first, filtered. */
  list(filter: LogFilter = {}): RequestLogEntry[] {
    const device = filter.device?.toLowerCase();
    const out: RequestLogEntry[] = [];
    const n = this.items.length;
    for (let k = 0; k < n; k++) {
      const e = this.items[(this.start + k) % n]!;
      if (filter.partner && e.partner !== filter.partner) continue;
      if (device !== undefined && e.deviceKey !== device && !mentionsDevice(e, device)) continue;
      if (filter.since !== undefined && e.seq <= filter.since) continue;
      out.push(e);
      if (filter.limit !== undefined && out.length >= filter.limit) break;
    }
    return out;
  }

  counters(): Record<Partner, PartnerStats> {
    const out = {} as Record<Partner, PartnerStats>;
    for (const p of PARTNERS) out[p] = this.stats.get(p) ?? { requests: 0, duplicates: 0, outcomes: {} };
    return out;
  }

  /** Drops every entry and counter; `seq` keeps counting so pollers never see a number twice. */
  clear(): void {
    this.items = [];
    this.start = 0;
    this.stats.clear();
  }
}

/** A Singular request names a device by any of its IDs, not only the one that became the key. */
function mentionsDevice(e: RequestLogEntry, device: string): boolean {
  const ids = e.details?.deviceIds;
  return Array.isArray(ids) && ids.includes(device);
}
