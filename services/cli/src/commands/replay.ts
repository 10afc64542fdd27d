/**
 * `s2s-relay replay`: rewinds the worker group on s2s.ingest so the pipeline runs again from an
 * earlier point. The dedupe ledger keeps partners from seeing anything twice; `--resend` records a
 * resend window in Postgres first, which the ledger honours once per record, so everything in it is
 * forwarded again on purpose.
 *
 * The group must have no active members (every worker stopped): a running worker would commit its
 * own positions over the reset. Kafka itself refuses to move the offsets of an active group.
 */
import { createKafka, GroupActiveError, groupLag, type ResetTarget, resetGroupOffsets, topicNames } from '@s2s/bus';
import { commonEnv, loadConfig } from '@s2s/config';
import { createResendWindows } from '@s2s/store';
import type { Command } from 'commander';
import { z } from 'zod';
import { type CliContext, CliError } from '../context.js';

export const KafkaCliConfig = z.object({
  KAFKA_BROKERS: commonEnv.KAFKA_BROKERS,
  TOPIC_PREFIX: commonEnv.TOPIC_PREFIX,
  /** The workers' consumer group. */
  WORKER_GROUP_ID: z.string().min(1).default('s2s-workers'),
});

interface ReplayOptions {
  toEarliest?: boolean;
  toDatetime?: string;
  toOffsets?: string;
  resend?: boolean;
  resendTtlHours: string;
  group?: string;
  wait?: boolean;
  waitTimeout: string;
}

/** `0:120,1:98` → offsets per partition. */
export function parseOffsets(spec: string): { partition: number; offset: string }[] {
  return spec.split(',').map((part) => {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
    if (!m) throw new CliError('OFFSETS_INVALID', `--to-offsets: "${part}" is not partition:offset`);
    return { partition: Number(m[1]), offset: m[2] as string };
  });
}

function target(o: ReplayOptions): { target: ResetTarget; fromMs: number; label: string } {
  const given = [o.toEarliest, o.toDatetime, o.toOffsets].filter((x) => x !== undefined && x !== false);
  if (given.length !== 1)
    throw new CliError('REPLAY_TARGET', 'give exactly one of --to-earliest, --to-datetime <ISO time>, --to-offsets <p:o,...>');
  if (o.toEarliest) return { target: { kind: 'earliest' }, fromMs: 0, label: 'the earliest offsets' };
  if (o.toDatetime !== undefined) {
    const atMs = Date.parse(o.toDatetime);
    if (Number.isNaN(atMs)) throw new CliError('DATETIME_INVALID', `--to-datetime: "${o.toDatetime}" is not an ISO time`);
    return { target: { kind: 'datetime', atMs }, fromMs: atMs, label: new Date(atMs).toISOString() };
  }
  return { target: { kind: 'offsets', offsets: parseOffsets(o.toOffsets as string) }, fromMs: 0, label: 'the given offsets' };
}

export function registerReplayCommand(program: Command, ctx: CliContext): void {
  program
    .command('replay')
    .description('rewind the worker group on s2s.ingest (stop every worker first); the ledger suppresses repeats')
    .option('--to-earliest', 'from the start of the topic')
    .option('--to-datetime <time>', 'from the first record at or after this ISO time')
    .option('--to-offsets <list>', 'from these offsets, e.g. 0:120,1:98')
    .option('--resend', 'forward the replayed records to the partners again, on purpose (once each)')
    .option('--resend-ttl-hours <h>', 'how long the resend window stays open', '24')
    .option('--group <id>', 'worker consumer group (default WORKER_GROUP_ID or s2s-workers)')
    .option('--wait', 'follow the workers until they have caught up, printing progress')
    .option('--wait-timeout <s>', 'give up waiting after this many seconds', '3600')
    .action(async (o: ReplayOptions) => {
      const t = target(o);
      const env = loadConfig(KafkaCliConfig, ctx.env);
      const groupId = o.group ?? env.WORKER_GROUP_ID;
      const topic = topicNames(env.TOPIC_PREFIX).ingest;
      const admin = createKafka({ brokers: env.KAFKA_BROKERS, clientId: 's2s-cli' }).admin();
      await admin.connect();
      try {
        if (o.resend) {
          const ttlMs = Number(o.resendTtlHours) * 3_600_000;
          if (!(ttlMs > 0)) throw new CliError('TTL_INVALID', '--resend-ttl-hours must be a positive number');
          // Recorded before the reset, so that workers started afterwards see it at once.
          const w = await createResendWindows(await ctx.pool()).add({
            fromMs: t.fromMs,
            toMs: Date.now(),
            ttlMs,
            note: `replay to ${t.label}`,
          });
          ctx.out(
            `resend window #${w.id}: records received ${new Date(w.fromMs).toISOString()} .. ${new Date(w.toMs).toISOString()}`,
          );
        }
        let offsets: { partition: number; offset: string }[];
        try {
          offsets = await resetGroupOffsets(admin, { groupId, topic, target: t.target });
        } catch (err) {
          if (err instanceof GroupActiveError)
            throw new CliError(
              'GROUP_ACTIVE',
              `group ${groupId} still has ${err.members.length} active member(s): ${err.members.join(', ')}. ` +
                'Stop every worker first (a running worker would commit its own offsets over the reset), then run replay again.',
            );
          throw err;
        }
        const lag = await groupLag(admin, groupId, topic);
        ctx.out(
          `group ${groupId} on ${topic} reset to ${t.label}: ${offsets.map((p) => `${p.partition}:${p.offset}`).join(',')}`,
        );
        ctx.out(
          `${lag.total} records will run again${o.resend ? ' and be forwarded again once' : '; the ledger suppresses repeats'}`,
        );
        if (!o.wait) {
          ctx.out('start the workers to run the replay');
          return;
        }
        const total = lag.total;
        const deadline = Date.now() + Number(o.waitTimeout) * 1000;
        let last = -1;
        for (;;) {
          const now = await groupLag(admin, groupId, topic);
          if (now.total !== last) {
            const done = Math.max(0, total - now.total);
            ctx.out(`replay: ${done}/${total} records done (${total ? Math.floor((100 * done) / total) : 100}%)`);
            last = now.total;
          }
          if (now.total === 0) return;
          if (Date.now() > deadline) throw new CliError('REPLAY_TIMEOUT', `still ${now.total} records to go`);
          await new Promise((r) => setTimeout(r, 2_000));
        }
      } finally {
        await admin.disconnect();
      }
    });
}
