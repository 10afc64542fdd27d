/**
 * `s2s-relay privacy erase | erasures | purge`: data subject erasure and retention, against Postgres.
 *
 * erase: deletes what the relay holds about a device (device graph, partners' answers in stored
 * replies, parked records, identifying idempotency keys), keeps the one-way hashes dedupe needs, and
 * records the erasure; workers drop the device's records still in Kafka (see @s2s/store privacy.ts).
 * Partners keep what they were sent (Singular: forever): ask them separately.
 * purge: deletes or empties rows past retention; prints one `kind count` line per kind (or JSON).
 */
import { userInfo } from 'node:os';
import { RelayError } from '@s2s/contracts';
import {
  createPrivacyRepo,
  DEFAULT_RETENTION_DAYS,
  type Erasure,
  type ErasureCounts,
  purgeExpired,
  RetentionError,
} from '@s2s/store';
import type { Command } from 'commander';
import { type CliContext, CliError } from '../context.js';

const days = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new CliError('RETENTION_INVALID', `--${name} must be a whole number of days`);
  return Number(v);
};

const COUNT_ORDER: (keyof ErasureCounts)[] = [
  'devices',
  'identifiers',
  'identifierChanges',
  'consent',
  'attribution',
  'parkedRecords',
  'parkedLanes',
  'replies',
  'ledgerReplies',
  'idempotencyKeys',
  'postbacks',
];

function printErasure(ctx: CliContext, e: Erasure) {
  // A fixed order (jsonb does not keep the keys' order).
  const counts = COUNT_ORDER.map((k) => `${k}=${e.counts[k] ?? 0}`).join(' ');
  ctx.out(`erased ${e.appId}/${e.deviceKey} (#${e.id}, ${e.erasedAt.toISOString()}, by ${e.requestedBy}): ${counts}`);
}

export function registerPrivacyCommands(program: Command, ctx: CliContext): void {
  const privacy = program.command('privacy').description('erase a device, the erasure log, retention purge');

  privacy
    .command('erase')
    .description('erase what the relay holds about a device (its records still in Kafka are dropped by the workers)')
    .requiredOption('--app <id>', 'app id')
    .requiredOption(
      '--device <device>',
      'device key, kind:value (idfa, idfv, aifa, asid, andi, amid, oaid, custom_user_id, install_id) or an identifier',
    )
    .option('--by <who>', 'who asked (operator, ticket): kept in the audit log', `cli:${safeUser()}`)
    .option('--json', 'print JSON')
    .action(async (o: { app: string; device: string; by: string; json?: boolean }) => {
      let erasures: Erasure[];
      try {
        erasures = await createPrivacyRepo(await ctx.pool()).erase({ appId: o.app, device: o.device, requestedBy: o.by });
      } catch (err) {
        if (err instanceof RelayError && err.code === 'DEVICE_NOT_FOUND') throw new CliError(err.code, err.message);
        throw err;
      }
      if (o.json) return ctx.out(JSON.stringify(erasures, null, 2));
      for (const e of erasures) printErasure(ctx, e);
      ctx.out('note: partners keep what they were sent (Singular keeps device data forever); ask them separately');
    });

  privacy
    .command('erasures')
    .description('the erasure audit log, newest first')
    .option('--app <id>', 'only this app')
    .option('--limit <n>', 'at most n', '100')
    .action(async (o: { app?: string; limit: string }) => {
      const list = await createPrivacyRepo(await ctx.pool()).erasures(o.app, Math.max(1, Number(o.limit) || 100));
      if (list.length === 0) return ctx.out('no erasures');
      for (const e of list) printErasure(ctx, e);
    });

  const d = DEFAULT_RETENTION_DAYS;
  privacy
    .command('purge')
    .description('delete or empty rows past retention; prints the counts per kind')
    .option('--replies-days <n>', 'request_outcomes (partners answers)', days('replies-days'), d.replies)
    .option('--intake-days <n>', "the gateway's idempotency log (≥ 7)", days('intake-days'), d.intake)
    .option('--ledger-payload-days <n>', 'ledger replies of finished rows', days('ledger-payload-days'), d.ledgerPayloads)
    .option('--dlq-days <n>', 'ledger replies of dlq / in-doubt rows (≥ s2s.dlq retention)', days('dlq-days'), d.dlq)
    .option('--ledger-key-days <n>', 'finished ledger rows (dedupe keys; ≥ 7)', days('ledger-key-days'), d.ledgerKeys)
    .option('--postback-days <n>', 'postback dedupe rows', days('postback-days'), d.postbacks)
    .option('--json', 'print JSON')
    .action(
      async (o: {
        repliesDays: number;
        intakeDays: number;
        ledgerPayloadDays: number;
        dlqDays: number;
        ledgerKeyDays: number;
        postbackDays: number;
        json?: boolean;
      }) => {
        let result: Awaited<ReturnType<typeof purgeExpired>>;
        try {
          result = await purgeExpired(await ctx.pool(), {
            replies: o.repliesDays,
            intake: o.intakeDays,
            ledgerPayloads: o.ledgerPayloadDays,
            dlq: o.dlqDays,
            ledgerKeys: o.ledgerKeyDays,
            postbacks: o.postbackDays,
          });
        } catch (err) {
          if (err instanceof RetentionError) throw new CliError(err.code, err.message);
          throw err;
        }
        if (o.json) return ctx.out(JSON.stringify(result));
        for (const [k, n] of Object.entries(result)) ctx.out(`${k} ${n}`);
      },
    );
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
