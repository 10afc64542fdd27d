/**
 * Verification of Onside's compact JWS (partner-apis.md §3.4–§3.5), the same for both ways: the relay
 * called Onside (a) or the app did and sent the JWS along (b). Nothing of an answer is used before
 * every check passes; any failed check is `ONSIDE_VERIFICATION_FAILED` naming it, never relayed.
 *
 * Checks: compact form; `alg` RS256 only (no `none`, no HS*); key by `kid` from the JWKS; RS256
 * signature; `iss`; `aud` = the bundle id sent; `exp` and `iat` with a leeway (default 60 s, S-N5);
 * `request_token` = the token sent; `installation_token` present. `typ` is not required (S-N11).
 */
import type { OnsideAnswer, OnsideAttribution } from '@s2s/contracts';
import { decodeProtectedHeader, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { type OnsideCheck, OnsideVerificationError, PartnerError } from '../errors.js';
import { ONSIDE_ISSUER } from './build.js';

/** What the answer must be bound to: what was sent (a) or what the app says it sent (b). */
export interface OnsideExpectation {
  bundleId: string;
  token: string;
}

export interface OnsideVerifyOptions {
  getKey: JWTVerifyGetKey;
  issuer?: string | undefined;
  leewaySec?: number | undefined;
  now?: (() => number) | undefined;
}

/** Three base64url parts; the signature may be empty so that `alg: none` is caught by the alg check, by name. */
const COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export async function verifyOnsideJwsWith(
  jws: string,
  expected: OnsideExpectation,
  o: OnsideVerifyOptions,
): Promise<OnsideAnswer> {
  const token = jws.trim();
  if (!COMPACT.test(token)) throw new OnsideVerificationError('format', 'not a compact JWS');
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (e) {
    throw new OnsideVerificationError('format', 'unreadable protected header', e);
  }
  if (alg !== 'RS256') throw new OnsideVerificationError('alg', `alg ${JSON.stringify(alg ?? null)} is not RS256`);

  const leeway = o.leewaySec ?? 60;
  const nowMs = (o.now ?? Date.now)();
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, o.getKey, {
      algorithms: ['RS256'],
      issuer: o.issuer ?? ONSIDE_ISSUER,
      audience: expected.bundleId,
      clockTolerance: leeway,
      currentDate: new Date(nowMs),
      requiredClaims: ['exp', 'iat'],
    }));
  } catch (e) {
    if (e instanceof PartnerError) throw e;
    const [check, detail] = checkOf(e);
    throw new OnsideVerificationError(check, detail, e);
  }
  // jose checks a future `iat` only with maxTokenAge; the rule here is "not beyond the leeway".
  if (typeof payload.iat !== 'number' || payload.iat > nowMs / 1000 + leeway)
    throw new OnsideVerificationError('iat', 'iat lies in the future beyond the leeway');
  if (payload.request_token !== expected.token)
    throw new OnsideVerificationError('request_token', 'request_token does not match the token sent');
  if (typeof payload.installation_token !== 'string' || payload.installation_token === '')
    throw new OnsideVerificationError('installation_token', 'installation_token is missing');
  return onsideAnswerOf(payload);
}

/** Which check a jose error stands for. */
function checkOf(e: unknown): [OnsideCheck, string] {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) return ['alg', msg];
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) return ['kid', msg];
  if (e instanceof errors.JWSSignatureVerificationFailed) return ['signature', msg];
  if (e instanceof errors.JWTExpired) return ['exp', msg];
  if (e instanceof errors.JWTClaimValidationFailed) {
    const claim = e.claim;
    if (claim === 'iss' || claim === 'aud' || claim === 'exp' || claim === 'iat' || claim === 'nbf') return [claim, msg];
    return ['format', msg];
  }
  return ['format', msg];
}

/** Claims → `OnsideAnswer` (camelCase, every attribution subfield optional, `tags` default [], S-N7). */
export function onsideAnswerOf(payload: JWTPayload): OnsideAnswer {
  const answer: OnsideAnswer = { installationToken: String(payload.installation_token) };
  if (typeof payload.jti === 'string') answer.jti = payload.jti;
  const ad = payload.attribution_data;
  if (ad && typeof ad === 'object' && !Array.isArray(ad)) {
    const a = ad as Record<string, unknown>;
    const out: OnsideAttribution = {
      tags: Array.isArray(a.tags) ? a.tags.filter((t): t is string => typeof t === 'string') : [],
    };
    if (typeof a.marketing_campaign === 'string') out.marketingCampaign = a.marketing_campaign;
    if (typeof a.source === 'string') out.source = a.source;
    if (typeof a.click_id === 'string') out.clickId = a.click_id;
    answer.attributionData = out;
  }
  return answer;
}
