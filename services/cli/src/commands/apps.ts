/**
 * `s2s-relay apps …`: create apps, list them, rotate and revoke their API keys, disable them.
 * An API key is printed once, when it is made (it is stored hashed); `list` never prints a secret
 * (API keys, the Singular SDK key, the Oath HMAC key): only key prefixes and which partners are on.
 */
import { SessionFields } from '@s2s/contracts';
import { type App, createAppSettings, createAppsRepo, ensureDemoApp } from '@s2s/store';
import type { Command } from 'commander';
import { type CliContext, CliError } from '../context.js';

interface AddOptions {
  id: string;
  name?: string;
  singularSdkKey?: string;
  oathDp?: string;
  oathKey?: string;
  onside?: boolean;
  ddl?: boolean;
  mode: string;
  apiKey?: string;
}

function partners(app: App): string {
  const on = [app.singular && 'singular', app.oath && `oath(${app.oath.dataProviderId})`, app.onside && 'onside'].filter(Boolean);
  return on.length ? on.join(',') : '-';
}

function printKey(ctx: CliContext, appId: string, apiKey: string) {
  ctx.out(`API key for ${appId} (shown once; store it now):`);
  ctx.out(apiKey);
}

export function registerAppsCommands(program: Command, ctx: CliContext): void {
  const apps = program.command('apps').description('apps, their API keys and partner settings');

  apps
    .command('add')
    .description('create an app and print its first API key')
    .requiredOption('--id <id>', 'app id (lower-case letters, digits, - or _)')
    .option('--name <name>', 'display name (defaults to the id)')
    .option('--singular-sdk-key <key>', 'forward to Singular with this SDK key')
    .option('--oath-dp <id>', 'forward installs to Oath as this data provider (with --oath-key)')
    .option('--oath-key <key>', "Oath's HMAC key for the data provider (with --oath-dp)")
    .option('--onside', 'call Onside on iOS installs')
    .option('--ddl', 'the app expects deferred deep links')
    .option('--mode <mode>', 'integration mode: pure or hybrid', 'pure')
    .option('--api-key <key>', 'install this API key instead of generating one')
    .action(async (o: AddOptions) => {
      const id = SessionFields.shape.appId.safeParse(o.id);
      if (!id.success) throw new CliError('APP_ID_INVALID', `--id ${id.error.issues[0]?.message ?? 'is not valid'}`);
      if ((o.oathDp === undefined) !== (o.oathKey === undefined))
        throw new CliError('OATH_INCOMPLETE', '--oath-dp and --oath-key go together');
      if (o.mode !== 'pure' && o.mode !== 'hybrid') throw new CliError('MODE_INVALID', '--mode must be pure or hybrid');
      const repo = createAppsRepo(await ctx.pool());
      if (await repo.get(o.id)) throw new CliError('APP_EXISTS', `app ${o.id} exists: use rotate-key for a new key`);
      const { app, apiKey } = await repo.upsert(
        {
          id: o.id,
          mode: o.mode,
          ddlEnabled: o.ddl === true,
          onsideEnabled: o.onside === true,
          ...(o.name ? { name: o.name } : {}),
          ...(o.singularSdkKey ? { singularSdkKey: o.singularSdkKey } : {}),
          ...(o.oathDp && o.oathKey ? { oathDataProviderId: o.oathDp, oathHmacKey: o.oathKey } : {}),
        },
        ...(o.apiKey ? [o.apiKey] : []),
      );
      ctx.out(`created app ${app.id} (partners: ${partners(app)}; ddl ${app.ddlEnabled ? 'on' : 'off'})`);
      printKey(ctx, app.id, apiKey);
    });

  apps
    .command('list')
    .description('list apps, partners and key prefixes (never secrets)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const list = await createAppsRepo(await ctx.pool()).list();
      const rows = list.map((a) => ({
        id: a.id,
        name: a.name,
        status: a.status,
        mode: a.mode,
        ddlEnabled: a.ddlEnabled,
        partners: {
          singular: a.singular !== undefined,
          oath: a.oath ? { dataProviderId: a.oath.dataProviderId } : false,
          onside: a.onside !== undefined,
        },
        keys: a.keys.map((k) => ({
          prefix: k.prefix,
          createdAt: k.createdAt.toISOString(),
          revokedAt: k.revokedAt?.toISOString() ?? null,
        })),
      }));
      if (o.json) return ctx.out(JSON.stringify(rows, null, 2));
      if (rows.length === 0) return ctx.out('no apps (create one with: s2s-relay apps add --id <id>)');
      const table = [
        ['ID', 'STATUS', 'MODE', 'PARTNERS', 'DDL', 'ACTIVE KEYS'],
        ...list.map((a) => [
          a.id,
          a.status,
          a.mode,
          partners(a),
          a.ddlEnabled ? 'on' : 'off',
          a.keys
            .filter((k) => !k.revokedAt)
            .map((k) => `${k.prefix}…`)
            .join(' ') || '-',
        ]),
      ];
      const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => (r[c] ?? '').length)));
      for (const r of table)
        ctx.out(
          r
            .map((cell, c) => cell.padEnd(widths[c] ?? 0))
            .join('  ')
            .trimEnd(),
        );
    });

  apps
    .command('rotate-key <id>')
    .description('add a new API key (printed once); with --revoke, revoke an old key by its prefix')
    .option('--revoke <prefix>', 'revoke the active key(s) with this prefix (as shown by list)')
    .action(async (id: string, o: { revoke?: string }) => {
      const repo = createAppsRepo(await ctx.pool());
      if (!(await repo.get(id))) throw new CliError('APP_NOT_FOUND', `no app ${id}`);
      const apiKey = await repo.addKey(id);
      if (o.revoke) {
        const prefix = o.revoke.replace(/…$/, '');
        const revoked = await repo.revokeKey(id, prefix);
        if (revoked === 0) ctx.err(`warning: no active key of ${id} has the prefix ${prefix}`);
        else ctx.out(`revoked ${revoked} key(s) with prefix ${prefix} (gateways stop accepting it within AUTH_CACHE_TTL_MS)`);
      }
      printKey(ctx, id, apiKey);
    });

  for (const [name, status] of [
    ['disable', 'disabled'],
    ['enable', 'active'],
  ] as const) {
    apps
      .command(`${name} <id>`)
      .description(
        name === 'disable'
          ? 'refuse every request of the app (within AUTH_CACHE_TTL_MS on each gateway)'
          : 'accept the app again',
      )
      .action(async (id: string) => {
        if (!(await createAppsRepo(await ctx.pool()).setStatus(id, status))) throw new CliError('APP_NOT_FOUND', `no app ${id}`);
        ctx.out(`app ${id} ${status}`);
      });
  }

  apps
    .command('set-mode <id> <mode>')
    .description(
      'integration mode: pure (the relay sends sessions and events, session first) or hybrid (the SDK owns sessions; events only)',
    )
    .action(async (id: string, mode: string) => {
      if (mode !== 'pure' && mode !== 'hybrid') throw new CliError('MODE_INVALID', 'mode must be pure or hybrid');
      if (!(await createAppSettings(await ctx.pool()).setMode(id, mode))) throw new CliError('APP_NOT_FOUND', `no app ${id}`);
      ctx.out(`app ${id} mode ${mode} (workers apply it within their app cache time)`);
    });

  apps
    .command('postback-secret <id>')
    .description("make the app's Singular Internal BI postback secret (printed once; replaces the previous one)")
    .action(async (id: string) => {
      const secret = await createAppSettings(await ctx.pool()).rotatePostbackSecret(id);
      if (!secret) throw new CliError('APP_NOT_FOUND', `no app ${id}`);
      ctx.out(`postback secret for ${id} (shown once; store it now). Postback URL for Singular's Internal BI partner:`);
      ctx.out(`  https://<gateway>/v1/postbacks/singular/${id}?key=<secret>`);
      ctx.out(secret);
    });

  apps
    .command('demo')
    .description('create or refresh the demo app wired to the partner sandbox and print a key (DEMO_API_KEY sets it)')
    .action(async () => {
      const { appId, apiKey } = await ensureDemoApp(await ctx.pool(), ctx.env);
      ctx.out(`demo app ${appId} ready (singular, oath, onside on the sandbox; ddl on)`);
      printKey(ctx, appId, apiKey);
    });
}
