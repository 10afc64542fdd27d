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

/** An entry as served by `/_sandbox/requests`. */
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
  /** Decoded body: form parameters (Singular POST), parsed JSON (Onside), other text as is, else null. */
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

export type BodyKind = 'form' | 'json' | 'text';

/**
 * What is kept per request. A million of these must fit in memory, so the request stays as the raw
 * strings it arrived as (one URL, one body) and is decoded only when the log is read.
 */
export interface NewEntry {
  partner: Partner;
  method: string;
  url: string;
  bodyText: string | null;
  bodyKind: BodyKind | null;
  /** Unix ms. */
  receivedAt: number;
  deviceKey: string | null;
  outcome: string;
  reason?: string;
  status: number;
  warnings: string[];
  duplicate: boolean;
  response?: unknown;
  details?: Record<string, unknown>;
}

export interface StoredEntry extends NewEntry {
  seq: number;
}

/** The served shape of a stored entry. */
export function present(e: StoredEntry): RequestLogEntry {
  const q = e.url.indexOf('?');
  return {
    seq: e.seq,
    partner: e.partner,
    method: e.method,
    path: q < 0 ? e.url : e.url.slice(0, q),
    url: e.url,
    query: q < 0 ? {} : decodeQuery(e.url.slice(q + 1)),
    body: decodeBody(e.bodyText, e.bodyKind),
    receivedAt: new Date(e.receivedAt).toISOString(),
    deviceKey: e.deviceKey,
    outcome: e.outcome,
    ...(e.reason === undefined ? {} : { reason: e.reason }),
    status: e.status,
    warnings: e.warnings,
    duplicate: e.duplicate,
    ...(e.response === undefined ? {} : { response: e.response }),
    ...(e.details === undefined ? {} : { details: e.details }),
  };
}

function decodeQuery(raw: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of new URLSearchParams(raw)) if (!(k in out)) out[k] = v;
  return out;
}

function decodeBody(text: string | null, kind: BodyKind | null): unknown {
  if (text === null || text === '') return null;
  if (kind === 'form') return decodeQuery(text);
  if (kind === 'json') {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

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
  private items: StoredEntry[] = [];
  private start = 0;
  private lastSeq = 0;
  private stats = new Map<Partner, PartnerStats>();

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.items.length;
  }

  push(entry: NewEntry): StoredEntry {
    const full: StoredEntry = { seq: ++this.lastSeq, ...entry };
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

  /** Entries oldest first, filtered, in their served shape. */
  list(filter: LogFilter = {}): RequestLogEntry[] {
    const device = filter.device?.toLowerCase();
    const out: RequestLogEntry[] = [];
    const n = this.items.length;
    for (let k = 0; k < n; k++) {
      const e = this.items[(this.start + k) % n]!;
      if (filter.partner && e.partner !== filter.partner) continue;
      if (device !== undefined && e.deviceKey !== device && !mentionsDevice(e, device)) continue;
      if (filter.since !== undefined && e.seq <= filter.since) continue;
      out.push(present(e));
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
function mentionsDevice(e: StoredEntry, device: string): boolean {
  const ids = e.details?.deviceIds;
  return Array.isArray(ids) && ids.includes(device);
}
