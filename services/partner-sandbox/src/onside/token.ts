/**
 * The attribution answer: a compact JWS, header `{"alg":"RS256","kid":...}` with no `typ`
 * (spec §3.4), and its scripted forgeries, one per client check of §3.5.
 */
import { SignJWT } from 'jose';
import type { KeyRing } from './keys.js';
import type { ForgeMode } from './store.js';

export interface AttributionClaims {
  iss: string;
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  request_token: string;
  installation_token: string;
  attribution_data?: Record<string, unknown>;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export async function signAttribution(
  keys: KeyRing,
  claims: AttributionClaims,
  forge?: ForgeMode,
): Promise<{ jws: string; kid: string }> {
  const c = { ...claims };
  const ttl = c.exp - c.iat;
  let key = keys.active;
  switch (forge) {
    case 'wrong-aud':
      c.aud = `${c.aud}.forged`;
      break;
    case 'wrong-iss':
      c.iss = 'https://forged.onside.invalid';
      break;
    case 'expired':
      // Well past any leeway: expired an hour ago.
      c.exp = c.iat - 3600;
      c.iat = c.exp - ttl;
      break;
    case 'future-iat':
      c.iat += 3600;
      c.exp = c.iat + ttl;
      break;
    case 'mismatched-request-token':
      c.request_token = `${c.request_token}-forged`;
      break;
    case 'unknown-kid':
      key = await keys.unpublished();
      break;
    case 'alg-none':
      return { jws: `${b64({ alg: 'none', kid: key.kid })}.${b64(c)}.`, kid: key.kid };
    case 'alg-hs256': {
      // Key confusion: HMAC keyed with the public key, which anyone can fetch.
      const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
      const jws = await new SignJWT({ ...c }).setProtectedHeader({ alg: 'HS256', kid: key.kid }).sign(secret);
      return { jws, kid: key.kid };
    }
    default:
      break;
  }
  let jws = await new SignJWT({ ...c }).setProtectedHeader({ alg: 'RS256', kid: key.kid }).sign(key.privateKey);
  if (forge === 'bad-signature') {
    const dot = jws.lastIndexOf('.');
    const first = jws[dot + 1];
    jws = `${jws.slice(0, dot + 1)}${first === 'A' ? 'B' : 'A'}${jws.slice(dot + 2)}`;
  }
  return { jws, kid: key.kid };
}
