/**
 * `s2s-relay setup [--demo]`: what a fresh installation needs before its services start: the
 * Postgres migrations, the three topics (created by code with the replay retention, never by hand),
 * and with `--demo` the demo app wired to the partner sandbox, whose key it prints.
 * Safe to run again: migrations and topics that exist are left as they are.
 */
import { createKafka, ensureTopics, topicNames } from '@s2s/bus';
import { envInt, loadConfig } from '@s2s/config';
import { ensureDemoApp } from '@s2s/store';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { KafkaCliConfig } from './replay.js';

const SetupConfig = KafkaCliConfig.extend({
  /** Partitions of s2s.ingest when it is created (the upper bound of worker parallelism). */
  INGEST_PARTITIONS: envInt(12, 1, 10_000),
  /** Replicas per partition when topics are created (3 on a real cluster, 1 on one broker). */
  REPLICATION_FACTOR: envInt(1, 1, 10),
});

export function registerSetupCommand(program: Command, ctx: CliContext): void {
  program
    .command('setup')
    .description('migrate Postgres, create the topics, and with --demo the sandbox-wired demo app')
    .option('--demo', 'create or refresh the demo app and print its API key')
    .action(async (opts: { demo?: boolean }) => {
      const env = loadConfig(SetupConfig, ctx.env);
      const pool = await ctx.pool(); // runs the migrations
      ctx.out('postgres: migrated');
      const names = topicNames(env.TOPIC_PREFIX);
      const admin = createKafka({ brokers: env.KAFKA_BROKERS, clientId: 's2s-cli' }).admin();
      await admin.connect();
      try {
        await ensureTopics(admin, names, { ingestPartitions: env.INGEST_PARTITIONS, replicationFactor: env.REPLICATION_FACTOR });
      } finally {
        await admin.disconnect();
      }
      ctx.out(`kafka: topics ${Object.values(names).join(', ')}`);
      if (opts.demo) {
        const { appId, apiKey } = await ensureDemoApp(pool, ctx.env);
        ctx.out(`demo app: ${appId}`);
        ctx.out(`demo API key: ${apiKey}`);
      }
    });
}
