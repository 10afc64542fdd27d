/**
 * The apps: a bounded, steady load of device journeys through the gateway over HTTP. Each device
 * sends its records one after the other, as an app does; a record is retried with the same
 * Idempotency-Key on a connection failure, a timeout, 429 or 5xx (honouring Retry-After, at most 1 s
 * here), until a deadline. Some accepted records are sent again with the same key (a client
 * duplicate): the gateway must answer with the same request id.
 */
import { type Device, makeDevice, type PlannedRecord } from './journeys.js';

export interface LoadOptions {
  baseUrl: string;
  apiKey: string;
  appId: string;
  runTag: string;
  /** Device numbers start here (unique across the whole run: they make the device ids). */
  firstDevice: number;
  maxDevices: number;
  durationMs: number;
  /** When given, the load also goes on until this settles (whichever ends later). */
  until?: Promise<unknown>;
  concurrency: number;
  /** Pause between two records of a device. */
  paceMs: number;
  /** A record not accepted after this long is given up (counted; the test fails on it). */
  giveUpMs?: number;
}

export interface LoadResult {
  devices: Device[];
  /** Request id → the record, for every record the gateway answered 2xx. */
  accepted: Map<string, PlannedRecord>;
  /** HTTP statuses seen (0 = connection failure or client timeout). */
  statuses: Map<number, number>;
  retries: number;
  clientDuplicates: number;
  /** Client duplicates answered with another request id, or not 2xx. */
  duplicateMismatches: string[];
  gaveUp: string[];
  /** 4xx other than 429 on a valid record. */
  refused: string[];
}

const RETRYABLE = (s: number) => s === 0 || s === 429 || s >= 500;

/** Starts the load; `live` fills while it runs (scenarios trigger faults on its progress). */
export function startLoad(o: LoadOptions): { live: LoadResult; done: Promise<LoadResult> } {
  const result: LoadResult = {
    devices: [],
    accepted: new Map(),
    statuses: new Map(),
    retries: 0,
    clientDuplicates: 0,
    duplicateMismatches: [],
    gaveUp: [],
    refused: [],
  };
  const count = (s: number) => result.statuses.set(s, (result.statuses.get(s) ?? 0) + 1);

  const post = async (
    rec: PlannedRecord,
  ): Promise<{ status: number; requestId?: string; retryAfter?: number; body?: string }> => {
    try {
      const res = await fetch(`${o.baseUrl}/v1/${rec.kind}s`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${o.apiKey}`,
          'content-type': 'application/json',
          'idempotency-key': rec.idempotencyKey,
        },
        body: JSON.stringify(rec.body),
        signal: AbortSignal.timeout(8_000),
      });
      const text = await res.text();
      count(res.status);
      const retryAfter = Number(res.headers.get('retry-after') ?? 0);
      if (res.status >= 200 && res.status < 300) return { status: res.status, requestId: JSON.parse(text).requestId };
      return { status: res.status, retryAfter, body: text.slice(0, 300) };
    } catch {
      count(0);
      return { status: 0 };
    }
  };

  /** Sends until accepted (or the deadline); returns the request id. */
  const deliver = async (rec: PlannedRecord): Promise<string | undefined> => {
    const deadline = Date.now() + (o.giveUpMs ?? 90_000);
    for (let attempt = 0; ; attempt++) {
      const r = await post(rec);
      if (r.requestId) return r.requestId;
      if (!RETRYABLE(r.status)) {
        result.refused.push(`${rec.idempotencyKey}: ${r.status} ${r.body}`);
        return undefined;
      }
      if (Date.now() > deadline) {
        result.gaveUp.push(`${rec.idempotencyKey} (last status ${r.status})`);
        return undefined;
      }
      result.retries++;
      // Client backoff (load behaviour, not test synchronisation): 50 ms doubling to 1 s, or Retry-After.
      const backoff = Math.min(1_000, r.retryAfter ? r.retryAfter * 1000 : 50 * 2 ** Math.min(attempt, 5));
      await new Promise((resolve) => setTimeout(resolve, backoff));
    }
  };

  const journey = async (device: Device) => {
    for (const [i, rec] of device.records.entries()) {
      const requestId = await deliver(rec);
      if (!requestId) return; // the app stops here; nothing after it is sent
      result.accepted.set(requestId, rec);
      // Every 7th record is sent once more with the same key: the app did not see the first answer.
      if ((device.n + i) % 7 === 0) {
        result.clientDuplicates++;
        const again = await deliver(rec);
        if (again !== requestId) result.duplicateMismatches.push(`${rec.idempotencyKey}: ${requestId} then ${again}`);
      }
      await new Promise((resolve) => setTimeout(resolve, o.paceMs));
    }
  };

  const end = Date.now() + o.durationMs;
  let untilSettled = o.until === undefined;
  const settled = () => {
    untilSettled = true;
  };
  void o.until?.then(settled, settled);
  let next = 0;
  const done = Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while ((Date.now() < end || !untilSettled) && next < o.maxDevices) {
        const device = makeDevice(o.firstDevice + next++, o.runTag, o.appId);
        result.devices.push(device);
        await journey(device);
      }
    }),
  ).then(() => result);
  return { live: result, done };
}
