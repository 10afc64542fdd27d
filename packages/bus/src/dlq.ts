/**
 * Inspecting and re-driving s2s.dlq (the `s2s-relay dlq` commands).
 *
 * Re-drive republishes a dead letter's original s2s.ingest bytes, with their original schema
 * header, keyed by device, plus the header `s2s-redrive: <token>`. A worker that meets the record
 * lets the ledger reopen its dlq / in-doubt row once for that token, so the partner is called again
 * on purpose; a second re-drive with the same token, or a replay, is suppressed as before.
 */
import { randomUUID } from 'node:crypto';
import { type DeadLetterMessage, decodeDeadLetter, SCHEMA_HEADER } from '@s2s/contracts';
import type { Kafka } from 'kafkajs';
import { readTopicToEnd } from './group-admin.js';
import type { BatchingProducer } from './producer.js';
import type { TopicNames } from './topics.js';

export const REDRIVE_HEADER = 's2s-redrive';

export interface DeadLetterFilter {
  reason?: string | undefined;
  partner?: string | undefined;
  appId?: string | undefined;
  requestId?: string | undefined;
  /** Only letters that failed at or after this time (Unix ms). */
  sinceMs?: number | undefined;
}

export interface DeadLetterEntry {
  partition: number;
  offset: string;
  letter: DeadLetterMessage;
}

export function matches(l: DeadLetterMessage, f: DeadLetterFilter): boolean {
  return (
    (f.reason === undefined || l.reason === f.reason) &&
    (f.partner === undefined || l.partner === f.partner) &&
    (f.appId === undefined || l.appId === f.appId) &&
    (f.requestId === undefined || l.requestId === f.requestId) &&
    (f.sinceMs === undefined || l.failedAtMs >= f.sinceMs)
  );
}

/** Every dead letter now in the topic that passes the filter, oldest first per partition. */
export async function listDeadLetters(
  kafka: Kafka,
  topics: TopicNames,
  filter: DeadLetterFilter = {},
  onProgress?: (read: number) => void,
): Promise<DeadLetterEntry[]> {
  const out: DeadLetterEntry[] = [];
  let read = 0;
  await readTopicToEnd(kafka, topics.dlq, (m, partition) => {
    read++;
    if (onProgress && read % 1000 === 0) onProgress(read);
    if (!m.value) return true;
    const letter = decodeDeadLetter(m.value, m.headers?.[SCHEMA_HEADER]?.toString());
    if (matches(letter, filter)) out.push({ partition, offset: m.offset, letter });
    return true;
  });
  return out;
}

/**
 * Republishes the original records of the matching dead letters to s2s.ingest with one re-drive
 * token. A record dead-lettered for several partners is republished once. Returns the token and count.
 */
export async function redriveDeadLetters(
  producer: BatchingProducer,
  topics: TopicNames,
  letters: DeadLetterEntry[],
  o: { token?: string; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ token: string; republished: number }> {
  const token = o.token ?? randomUUID();
  const seen = new Set<string>();
  const unique = letters.filter(({ letter }) => {
    if (seen.has(letter.requestId)) return false;
    seen.add(letter.requestId);
    return letter.original.length > 0 && letter.appId !== 'unknown';
  });
  let done = 0;
  for (let i = 0; i < unique.length; i += 500) {
    await Promise.all(
      unique.slice(i, i + 500).map(({ letter }) =>
        producer.send(topics.ingest, {
          key: letter.deviceKey,
          value: letter.original,
          headers: { [SCHEMA_HEADER]: letter.originalSchema, [REDRIVE_HEADER]: token },
        }),
      ),
    );
    done = Math.min(unique.length, i + 500);
    o.onProgress?.(done, unique.length);
  }
  return { token, republished: done };
}
