/**
 * Canonical iOS install session → Onside `POST /merchant-api/v1/attribution/install` JSON body
 * (partner-apis.md §3.2). iOS only (S-N10). Pure.
 */
import { languageOf, type SessionRecord } from '@s2s/contracts';
import { PartnerInputError } from '../errors.js';

export const ONSIDE_INSTALL_PATH = '/merchant-api/v1/attribution/install';
export const ONSIDE_JWKS_PATH = '/.well-known/jwks.json';
export const ONSIDE_ISSUER = 'https://onside.io';

export interface OnsideBody {
  token: string;
  /** Becomes the JWS `aud`. */
  bundle_id: string;
  device_model: string;
  os_version: string;
  /** BCP 47, e.g. en-US. */
  language: string;
  /** Free disk space in bytes (64-bit; note the camelCase on the wire). */
  availableCapacity?: number;
}

export function buildOnsideBody(r: SessionRecord): OnsideBody {
  if (r.platform !== 'iOS') throw new PartnerInputError('onside', 'install attribution is iOS only');
  if (!r.onside) throw new PartnerInputError('onside', 'the record has no onside token');
  if (!r.model) throw new PartnerInputError('onside', 'model is required (device_model)');
  const language = languageOf(r);
  if (!language) throw new PartnerInputError('onside', 'language or locale is required (language)');
  const body: OnsideBody = {
    token: r.onside.token,
    bundle_id: r.bundleId,
    device_model: r.model,
    os_version: r.osVersion,
    language,
  };
  if (r.onside.availableCapacity !== undefined) body.availableCapacity = r.onside.availableCapacity;
  return body;
}
