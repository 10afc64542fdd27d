import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { oathSignature, verifyOathQuery } from './signature.js';

const run = promisify(execFile);

/** The two worked vectors of spec §2.3, key `abcde1234`. */
const VECTORS = [
  {
    msg: '/appinstall?dp=acme&id=0f8fad5b-d9cb-469f-a165-70867728950e&ai=com.example.app&mi=38400000-8cf0-11bd-b23e-10b96e40000d&it=1445539353000&ip=203.0.113.7',
    bs: 'd1fafb5cd80f5708e84af9b9a46a39d6c7420662bdeb59bf4479b2f4e983ffa5',
  },
  {
    msg: '/appinstall?dp=acme&id=0f8fad5b-d9cb-469f-a165-70867728950e&ai=com.example.app&mi=38400000-8cf0-11bd-b23e-10b96e40000d&it=1445539353000&ir=utm_source%3Dgoogle%26utm_medium%3Dcpc&ua=k1%3Dv1%3Bk2%3Dv%202&ip=203.0.113.7',
    bs: '78a445cbc8abb0df00885d5115cbeb672c9e61bda0d7947896a99a62943d5f71',
  },
];

/** `openssl dgst -sha256 -hmac <key>` over stdin, as an independent implementation. */
async function openssl(key: string, msg: string): Promise<string> {
  const child = run('openssl', ['dgst', '-sha256', '-hmac', key]);
  child.child.stdin!.end(msg);
  const { stdout } = await child;
  return /([0-9a-f]{64})\s*$/.exec(stdout)![1]!;
}

describe('Oath bs signature', () => {
  it.each(VECTORS)('matches the worked vector of spec §2.3 ($bs)', ({ msg, bs }) => {
    expect(oathSignature('abcde1234', msg)).toBe(bs);
  });

  it('agrees with openssl on the vectors, other keys and awkward bytes', async () => {
    const cases = [
      ...VECTORS.map((v) => ['abcde1234', v.msg] as const),
      [
        'sandbox-oath-key',
        '/appinstall?dp=x&id=1&ai=123456789&mi=38400000-8cf0-11bd-b23e-10b96e40000d&it=1445539353000&ip=1.2.3.4',
      ] as const,
      ['k', '/appinstall?'] as const,
      ['a longer key with spaces', '/appinstall?ua=os%3DiOS%3Bmodel%3DiPhone15%252C2&ipv6=2001%3Adb8%3A%3A1'] as const,
    ];
    for (const [key, msg] of cases) expect(oathSignature(key, msg), msg).toBe(await openssl(key, msg));
  });

  it('verifies over the raw bytes after "bs=<sig>&", in either hex case', () => {
    const [v] = VECTORS;
    const rest = v!.msg.slice('/appinstall?'.length);
    expect(verifyOathQuery(`bs=${v!.bs}&${rest}`, 'abcde1234')).toEqual({ ok: true, signed: v!.msg });
    expect(verifyOathQuery(`bs=${v!.bs.toUpperCase()}&${rest}`, 'abcde1234').ok).toBe(true);
  });

  it('refuses a missing bs, a bs that is not first, a wrong key, a changed byte and a short signature', () => {
    const [, v] = VECTORS;
    const rest = v!.msg.slice('/appinstall?'.length);
    expect(verifyOathQuery(rest, 'abcde1234')).toEqual({ ok: false, why: 'bs is missing' });
    expect(verifyOathQuery(`dp=acme&bs=${v!.bs}&${rest.slice('dp=acme&'.length)}`, 'abcde1234')).toEqual({
      ok: false,
      why: 'bs is not the first parameter',
    });
    expect(verifyOathQuery(`bs=${v!.bs}&${rest}`, 'other-key')).toEqual({ ok: false, why: 'bs does not match' });
    // Same parameters, re-encoded (%20 as +): different bytes, so a different signature.
    expect(verifyOathQuery(`bs=${v!.bs}&${rest.replace('v%202', 'v+2')}`, 'abcde1234').ok).toBe(false);
    expect(verifyOathQuery(`bs=${v!.bs.slice(0, 63)}&${rest}`, 'abcde1234')).toEqual({
      ok: false,
      why: 'bs is not 64 hex digits',
    });
  });
});
