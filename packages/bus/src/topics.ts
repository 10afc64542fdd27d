/**
 * The relay's topics, created by code (never by hand) with the settings replay depends on.
 * Names take an optional prefix so that test runs sharing one broker never collide.
 */
import type { Admin, ITopicConfig } from 'kafkajs';

const DAY_MS = 24 * 60 * 60 * 1000;

export interface TopicNames {
  ingest: string;
  replies: string;
  dlq: string;
}

export function topicNames(prefix = ''): TopicNames {
  return {
    ingest: `${prefix}s2s.ingest`,
    replies: `${prefix}s2s.replies`,
    dlq: `${prefix}s2s.dlq`,
  };
}

export interface TopicLayout {
  /** Partitions of s2s.ingest: the upper bound on worker parallelism. */
  ingestPartitions: number;
  replicationFactor: number;
}

/** Topic specs: ingest keeps 7 days for replay; DLQ keeps 30 days for inspection and re-drive. */
export function topicSpecs(names: TopicNames, layout: TopicLayout): ITopicConfig[] {
  const rf = layout.replicationFactor;
  const cfg = (retentionMs: number) => [
    { name: 'retention.ms', value: String(retentionMs) },
    { name: 'cleanup.policy', value: 'delete' },
    // With rf > 1, a write acknowledged by all in-sync replicas survives the loss of one broker.
    { name: 'min.insync.replicas', value: String(Math.min(2, rf)) },
  ];
  return [
    {
      topic: names.ingest,
      numPartitions: layout.ingestPartitions,
      replicationFactor: rf,
      configEntries: cfg(7 * DAY_MS),
    },
    {
      topic: names.replies,
      numPartitions: 6,
      replicationFactor: rf,
      configEntries: cfg(1 * DAY_MS),
    },
    {
      topic: names.dlq,
      numPartitions: 3,
      replicationFactor: rf,
      configEntries: cfg(30 * DAY_MS),
    },
  ];
}

/**
 * Creates the topics that are missing; existing topics are left as they are. Safe to run from every
 * process. Resolves once every partition of the new topics has a leader that serves it.
 */
export async function ensureTopics(admin: Admin, names: TopicNames, layout: TopicLayout, timeoutMs = 30_000): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topicSpecs(names, layout).filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return;
  try {
    // kafkajs's own wait (waitForLeaders) gives up on the first "unknown topic" answer, which a
    // busy KRaft broker gives for a moment after creating a topic; the wait below rides it out.
    await admin.createTopics({ topics: missing, waitForLeaders: false });
  } catch (err) {
    // Another process may have created them between list and create.
    if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw err;
  }
  await waitForLeaders(
    admin,
    missing.map((t) => t.topic),
    timeoutMs,
  );
}

const SETTLING = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION']);

/**
 * Until every partition has a leader that answers for it: the metadata names one, and listing the
 * partition's offsets works (a busy broker names the leader a moment before that leader serves).
 */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let settling: unknown;
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      if (
        meta.length === topics.length &&
        meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      ) {
        for (const topic of topics) await admin.fetchTopicOffsets(topic);
        return;
      }
    } catch (err) {
      if (!SETTLING.has((err as { type?: string }).type ?? '')) throw err;
      settling = err;
    }
    if (Date.now() > deadline)
      throw new Error(`topics ${topics.join(', ')} have no leader after ${timeoutMs} ms`, { cause: settling });
    await new Promise((r) => setTimeout(r, 100));
  }
}
