/**
 * `s2s-relay dlq list | redrive`: inspect s2s.dlq and send dead letters through the pipeline again.
 *
 * Re-drive republishes each letter's original s2s.ingest bytes with a re-drive token (header
 * `s2s-redrive`); the workers' ledger reopens the record's dlq / in-doubt row once for that token, so
 * the partner is called again. Fix the cause first (app settings, partner outage): a record that
 * fails the same way goes back to the DLQ. Partner secrets are never printed (letters carry none).
 */
import {
  createBatchingProducer,
  createKafka,
  type DeadLetterFilter,
  listDeadLetters,
  redriveDeadLetters,
  topicNames,
} from '@s2s/bus';
import { loadConfig } from '@s2s/config';
import type { Command } from 'commander';
import { type CliContext, CliError } from '../context.js';
import { KafkaCliConfig } from './replay.js';

interface FilterOptions {
  reason?: string;
  partner?: string;
  app?: string;
  requestId?: string;
  since?: string;
}

function filterOf(o: FilterOptions): DeadLetterFilter {
  let sinceMs: number | undefined;
  if (o.since !== undefined) {
    sinceMs = Date.parse(o.since);
    if (Number.isNaN(sinceMs)) throw new CliError('DATETIME_INVALID', `--since: "${o.since}" is not an ISO time`);
  }
  return { reason: o.reason, partner: o.partner, appId: o.app, requestId: o.requestId, sinceMs };
}

const withFilters = (c: Command) =>
  c
    .option('--reason <reason>', 'e.g. no_session, partner_rejected, in_doubt, too_old, verification_failed')
    .option('--partner <partner>', 'singular, oath or onside')
    .option('--app <id>', 'app id')
    .option('--request-id <id>', 'one request')
    .option('--since <time>', 'failed at or after this ISO time');

export function registerDlqCommands(program: Command, ctx: CliContext): void {
  const dlq = program.command('dlq').description('inspect and re-drive dead letters (s2s.dlq)');
  const kafkaOf = () => {
    const env = loadConfig(KafkaCliConfig, ctx.env);
    return { kafka: createKafka({ brokers: env.KAFKA_BROKERS, clientId: 's2s-cli' }), topics: topicNames(env.TOPIC_PREFIX) };
  };
  const progress = (n: number) => ctx.err(`dlq: read ${n} letters…`);

  withFilters(dlq.command('list').description('list dead letters, oldest first per partition'))
    .option('--limit <n>', 'print at most n', '100')
    .option('--json', 'one JSON object per line (original bytes as base64)')
    .action(async (o: FilterOptions & { limit: string; json?: boolean }) => {
      const { kafka, topics } = kafkaOf();
      const entries = await listDeadLetters(kafka, topics, filterOf(o), progress);
      const limit = Math.max(0, Number(o.limit) || 0);
      for (const { partition, offset, letter } of entries.slice(0, limit)) {
        if (o.json) ctx.out(JSON.stringify({ partition, offset, ...letter, original: letter.original.toString('base64') }));
        else
          ctx.out(
            [
              new Date(letter.failedAtMs).toISOString(),
              letter.reason,
              letter.partner ?? '-',
              letter.appId,
              letter.requestId,
              `attempts=${letter.attempts}`,
              letter.detail ? JSON.stringify(letter.detail.slice(0, 120)) : '',
            ]
              .join('  ')
              .trimEnd(),
          );
      }
      ctx.out(`${entries.length} dead letter(s) match${entries.length > limit ? ` (${limit} shown)` : ''}`);
    });

  withFilters(
    dlq.command('redrive').description('republish matching dead letters to s2s.ingest (partners are called again, once)'),
  )
    .option('--all', 'every dead letter (no filter)')
    .action(async (o: FilterOptions & { all?: boolean }) => {
      const filter = filterOf(o);
      if (!o.all && Object.values(filter).every((v) => v === undefined))
        throw new CliError('FILTER_REQUIRED', 'give a filter (--reason, --partner, --app, --request-id, --since) or --all');
      const { kafka, topics } = kafkaOf();
      const entries = await listDeadLetters(kafka, topics, filter, progress);
      if (entries.length === 0) {
        ctx.out('no dead letter matches');
        return;
      }
      const producer = createBatchingProducer(kafka);
      await producer.connect();
      try {
        const { token, republished } = await redriveDeadLetters(producer, topics, entries, {
          onProgress: (done, total) => ctx.err(`dlq: republished ${done}/${total}`),
        });
        ctx.out(`re-drove ${republished} record(s) with token ${token}`);
      } finally {
        await producer.disconnect();
      }
    });
}
