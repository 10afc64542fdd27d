import { createPostbacksRepo, createPrivacyRepo, uuidV7Floor } from '@s2s/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, type TestSchema } from '../../../../test/support/index.js';
import { createContext } from '../context.js';
import { createProgram } from '../program.js';
import { registerPrivacyCommands } from './privacy.js';

const IDFV = '6F1C2A9E-3B4D-4E5F-8A7B-1C2D3E4F5A6B';

describe('s2s-relay privacy', () => {
  let schema: TestSchema;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    schema = await createTestSchema();
    env = { DATABASE_URL: schema.databaseUrl, DATABASE_SCHEMA: schema.schema };
  });
  afterAll(async () => schema?.cleanup());

  async function run(...args: string[]): Promise<string[]> {
    const out: string[] = [];
    const ctx = createContext({ env, out: (l) => out.push(l), err: (l) => out.push(l) });
    const program = createProgram().configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) });
    registerPrivacyCommands(program, ctx);
    try {
      await program.parseAsync(args, { from: 'user' });
    } finally {
      await ctx.close();
    }
    return out;
  }

  it('erases a device named by an identifier the graph resolves, and logs who did it', async () => {
    const { deviceKey } = await createPostbacksRepo(schema.pool).ingest({
      appId: 'shop',
      postbackKey: 'id:1',
      eventType: 'install',
      platform: 'iOS',
      ids: { idfv: IDFV },
      customUserId: 'user-77',
    });
    const out = await run('privacy', 'erase', '--app', 'shop', '--device', 'user-77', '--by', 'ops ticket 9');
    expect(out[0]).toMatch(new RegExp(`^erased shop/${deviceKey} \\(#\\d+, .+, by ops ticket 9\\): devices=1 identifiers=2 `));
    const left = await schema.pool.query('SELECT * FROM device_identifiers WHERE app_id = $1', ['shop']);
    expect(left.rowCount).toBe(0);
    expect(await createPrivacyRepo(schema.pool).isErased('shop', deviceKey)).toBe(true);
    expect((await run('privacy', 'erasures', '--app', 'shop'))[0]).toContain('by ops ticket 9');
    await expect(run('privacy', 'erase', '--app', 'shop', '--device', 'user-77')).rejects.toThrow(/no device of app shop/);
  });

  it('purges past retention and prints a count per kind', async () => {
    const old = uuidV7Floor(Date.now() - 40 * 86_400_000);
    await schema.pool.query(
      `INSERT INTO intake (app_id, idempotency_key, request_id, body_hash, device_key, kind, accepted_at)
       VALUES ('shop', 'k', $1, 'h', 'd', 'event', now())`,
      [old],
    );
    const out = await run('privacy', 'purge', '--json');
    expect(JSON.parse(out[0] as string)).toMatchObject({ intake: 1, replies: 0 });
    expect(await run('privacy', 'purge')).toContain('intake 0');
    await expect(run('privacy', 'purge', '--ledger-key-days', '3')).rejects.toThrow(/s2s.ingest/);
  });
});
