/**
 * Operator actions on the worker group and the topics (used by `s2s-relay replay` and `dlq`):
 * rewinding the group's committed offsets, and reading a topic from its start to its current end.
 *
 * A group's offsets can only be moved while it has no active members: a live worker would commit
 * its own positions over the reset. `resetGroupOffsets` refuses (GroupActiveError) in that case.
 */
import { RelayError } from '@s2s/contracts';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';

export class GroupActiveError extends RelayError {
  constructor(
    readonly groupId: string,
    readonly members: string[],
    readonly state: string,
  ) {
    super(
      'GROUP_ACTIVE',
      `consumer group ${groupId} has ${members.length} active member(s) (state ${state}): stop every worker first; ` +
        'a running worker would commit its own offsets over the reset',
      { retryable: false },
    );
  }
}

export type ResetTarget =
  | { kind: 'earliest' }
  | { kind: 'datetime'; atMs: number }
  | { kind: 'offsets'; offsets: { partition: number; offset: string }[] };

export interface PartitionOffset {
  partition: number;
  offset: string;
}

export async function groupMembers(admin: Admin, groupId: string): Promise<{ state: string; members: string[] }> {
  const { groups } = await admin.describeGroups([groupId]);
  const g = groups[0];
  return { state: g?.state ?? 'Dead', members: (g?.members ?? []).map((m) => `${m.clientId} (${m.clientHost})`) };
}

/** Moves the group's committed offsets on `topic`; returns the new offsets. Refuses while the group has members. */
export async function resetGroupOffsets(
  admin: Admin,
  o: { groupId: string; topic: string; target: ResetTarget },
): Promise<PartitionOffset[]> {
  const { state, members } = await groupMembers(admin, o.groupId);
  if (members.length > 0) throw new GroupActiveError(o.groupId, members, state);
  let offsets: PartitionOffset[];
  if (o.target.kind === 'earliest') {
    offsets = (await admin.fetchTopicOffsets(o.topic)).map((p) => ({ partition: p.partition, offset: p.low }));
  } else if (o.target.kind === 'datetime') {
    offsets = (await admin.fetchTopicOffsetsByTimestamp(o.topic, o.target.atMs)).map((p) => ({
      partition: p.partition,
      offset: p.offset,
    }));
  } else offsets = o.target.offsets;
  await admin.setOffsets({ groupId: o.groupId, topic: o.topic, partitions: offsets });
  return offsets;
}

/** Records between the group's committed offsets and the end of the topic, per partition and in total. */
export async function groupLag(admin: Admin, groupId: string, topic: string): Promise<{ total: number; partitions: number }> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  let total = 0;
  for (const p of ends) {
    const c = done.get(p.partition) ?? -1;
    total += Math.max(0, Number(p.high) - (c < 0 ? Number(p.low) : c));
  }
  return { total, partitions: ends.length };
}

/**
 * Reads every message of `topic` that exists now (earliest to the current end of each partition)
 * without a consumer group, in partition order; `onMessage` may stop early by returning false.
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  onMessage: (m: KafkaMessage, partition: number) => boolean | undefined | Promise<boolean | undefined>,
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const pending = new Map(ends.filter((p) => Number(p.high) > Number(p.low)).map((p) => [p.partition, Number(p.high)]));
  if (pending.size === 0) return 0;
  const groupId = `s2s-relay-reader-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
  let read = 0;
  let stop = false;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ message, partition }) => {
            const end = pending.get(partition);
            if (stop || end === undefined) return;
            if (Number(message.offset) < end) {
              read++;
              if ((await onMessage(message, partition)) === false) stop = true;
            }
            if (Number(message.offset) >= end - 1) pending.delete(partition);
            if (stop || pending.size === 0) resolve();
          },
        })
        .catch(reject);
    });
    await done;
  } finally {
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => {});
    await cleanup.disconnect();
  }
  return read;
}
