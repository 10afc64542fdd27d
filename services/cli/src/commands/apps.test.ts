import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createAppSettings, createAppsRepo } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from '../../../../test/support/index.js';
import { createContext } from '../context.js';
import { createProgram } from '../program.js';
import { registerAppsCommands } from './apps.js';

const SDK_KEY = 'cli-sdk-secret-91c2';
const HMAC_KEY = 'cli-hmac-secret-7d4e';

describe('s2s-relay apps', () => {
  let schema: TestSchema;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    schema = await createTestSchema();
    env = { DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
  });
  afterAll(async () => schema?.cleanup());

  async function run(...args: string[]): Promise<{ out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const ctx = createContext({ env, out: (l) => out.push(l), err: (l) => err.push(l) });
    const program = createProgram().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => err.push(s) });
    registerAppsCommands(program, ctx);
    try {
      await program.parseAsync(args, { from: 'user' });
    } finally {
      await ctx.close();
    }
    return { out, err };
  }

  it('adds an app, prints its key once, and the key authenticates it', async () => {
    const { out } = await run(
      'apps',
      'add',
      '--id',
      'shop',
      '--singular-sdk-key',
      SDK_KEY,
      '--oath-dp',
      'dp-9',
      '--oath-key',
      HMAC_KEY,
      '--onside',
      '--ddl',
    );
    expect(out[0]).toBe('created app shop (partners: singular,oath(dp-9),onside; ddl on)');
    const key = out[2]!;
    expect(key).toMatch(/^s2s_[\w-]{43}$/);
    const app = await createAppsRepo(schema.pool).authenticate(key);
    expect(app).toMatchObject({ id: 'shop', ddlEnabled: true, singular: { sdkKey: SDK_KEY }, oath: { hmacKey: HMAC_KEY } });
    await expect(run('apps', 'add', '--id', 'shop')).rejects.toThrow(/exists/);
    await expect(run('apps', 'add', '--id', 'Bad Id')).rejects.toThrow(/--id/);
    await expect(run('apps', 'add', '--id', 'half', '--oath-dp', 'x')).rejects.toThrow(/go together/);
  });

  it('lists apps with key prefixes and never a secret', async () => {
    const { out: added } = await run('apps', 'add', '--id', 'listed', '--singular-sdk-key', SDK_KEY);
    const key = added[2]!;
    const table = (await run('apps', 'list')).out.join('\n');
    const json = (await run('apps', 'list', '--json')).out.join('\n');
    expect(table).toMatch(/^ID\s+STATUS\s+MODE\s+PARTNERS/);
    expect(table).toContain(`${key.slice(0, 10)}…`);
    expect(JSON.parse(json).map((a: { id: string }) => a.id)).toEqual(expect.arrayContaining(['listed', 'shop']));
    for (const secret of [key, SDK_KEY, HMAC_KEY]) {
      expect(table).not.toContain(secret);
      expect(json).not.toContain(secret);
    }
  });

  it('rotates a key, revokes the old one by prefix, and disables the app', async () => {
    const { out } = await run('apps', 'add', '--id', 'rot');
    const oldKey = out[2]!;
    const rotated = await run('apps', 'rotate-key', 'rot', '--revoke', `${oldKey.slice(0, 10)}…`);
    const newKey = rotated.out.at(-1)!;
    expect(rotated.out[0]).toMatch(/revoked 1 key/);
    const repo = createAppsRepo(schema.pool);
    expect(await repo.authenticate(oldKey)).toBeUndefined();
    expect((await repo.authenticate(newKey))?.id).toBe('rot');
    await run('apps', 'disable', 'rot');
    expect((await repo.authenticate(newKey))?.status).toBe('disabled');
    await run('apps', 'enable', 'rot');
    expect((await repo.authenticate(newKey))?.status).toBe('active');
    await expect(run('apps', 'disable', 'nope')).rejects.toThrow(/no app nope/);
  });

  it('shows and changes the integration mode', async () => {
    await run('apps', 'add', '--id', 'hyb', '--mode', 'hybrid');
    const modeOf = async (id: string) =>
      JSON.parse((await run('apps', 'list', '--json')).out.join('\n')).find((a: { id: string }) => a.id === id).mode;
    expect(await modeOf('hyb')).toBe('hybrid');
    expect((await run('apps', 'list')).out.find((l) => l.startsWith('hyb '))).toMatch(/^hyb\s+active\s+hybrid\s/);
    expect((await run('apps', 'set-mode', 'hyb', 'pure')).out[0]).toMatch(/^app hyb mode pure/);
    expect(await modeOf('hyb')).toBe('pure');
    expect((await createAppsRepo(schema.pool).get('hyb'))?.mode).toBe('pure');
    await expect(run('apps', 'set-mode', 'hyb', 'half')).rejects.toThrow(/pure or hybrid/);
    await expect(run('apps', 'set-mode', 'nope', 'pure')).rejects.toThrow(/no app nope/);
  });

  it('makes a postback secret, prints it once, stores only its hash, and a new one replaces it', async () => {
    await run('apps', 'add', '--id', 'pb');
    const first = (await run('apps', 'postback-secret', 'pb')).out.at(-1)!;
    expect(first).toMatch(/^pbs_[\w-]{43}$/);
    const settings = createAppSettings(schema.pool);
    expect(await settings.verifyPostbackSecret('pb', first)).toBe(true);
    const stored = await schema.pool.query('SELECT * FROM apps WHERE id = $1', ['pb']);
    expect(JSON.stringify(stored.rows)).not.toContain(first);
    const second = (await run('apps', 'postback-secret', 'pb')).out.at(-1)!;
    expect(await settings.verifyPostbackSecret('pb', first)).toBe(false);
    expect(await settings.verifyPostbackSecret('pb', second)).toBe(true);
    expect((await run('apps', 'list', '--json')).out.join('\n')).not.toContain(second);
    await expect(run('apps', 'postback-secret', 'nope')).rejects.toThrow(/no app nope/);
  });

  it('creates the demo app wired to the sandbox, with DEMO_API_KEY when given', async () => {
    env = { ...env, DEMO_API_KEY: 's2s_demo-key-for-tests-0123456789' };
    const { out } = await run('apps', 'demo');
    expect(out.at(-1)).toBe('s2s_demo-key-for-tests-0123456789');
    const app = await createAppsRepo(schema.pool).authenticate('s2s_demo-key-for-tests-0123456789');
    expect(app).toMatchObject({
      id: 'demo',
      ddlEnabled: true,
      singular: { sdkKey: 'sandbox-sdk-key' },
      oath: { dataProviderId: 'sandbox-dp', hmacKey: 'sandbox-oath-key' },
      onside: { enabled: true },
    });
  });

  it('runs as the s2s-relay bin (tsx launcher)', () => {
    const bin = fileURLToPath(new URL('../../bin/s2s-relay.js', import.meta.url));
    const r = spawnSync(process.execPath, [bin, 'apps', 'list'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+STATUS/);
    const bad = spawnSync(process.execPath, [bin, 'apps', 'disable', 'nope'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('error: no app nope\n');
  });
});
