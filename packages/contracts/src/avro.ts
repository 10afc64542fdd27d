/**
 * Avro schemas of the three topics and the fingerprint rule.
 *
 * Every message carries its writer schema's fingerprint (SHA-256 of the Parsing Canonical Form,
 * hex) in the header `s2s-schema`. Readers keep every schema version ever written (`*_HISTORY`), so
 * a record written before a schema change still decodes, resolved to the current schema. Changing a
 * schema means appending the new version and keeping the old one in its history.
 */
import avro from 'avsc';

export const SCHEMA_HEADER = 's2s-schema';

const field = (name: string, type: unknown, dflt?: unknown) =>
  dflt === undefined ? { name, type } : { name, type, default: dflt };
/** An optional field: null or the type, null by default. */
const opt = (name: string, type: unknown) => ({ name, type: ['null', type], default: null });
const optStr = (name: string) => opt(name, 'string');
const optLong = (name: string) => opt(name, 'long');
const optInt = (name: string) => opt(name, 'int');
const optBool = (name: string) => opt(name, 'boolean');

const Partner = { type: 'enum', name: 'Partner', symbols: ['singular', 'oath', 'onside'] } as const;

/** s2s.ingest value, v1: one accepted record (session or event) with its identity. */
export const INGEST_V1 = {
  type: 'record',
  name: 'IngestRecord',
  namespace: 'dev.s2srelay.v1',
  fields: [
    field('requestId', 'string'),
    field('idempotencyKey', 'string'),
    field('bodyHash', 'string'),
    field('appId', 'string'),
    field('deviceKey', 'string'),
    field('kind', { type: 'enum', name: 'RecordKind', symbols: ['session', 'event'] }),
    field('receivedAtMs', 'long'),
    field('record', {
      type: 'record',
      name: 'Payload',
      fields: [
        optStr('eventId'),
        optStr('installId'),
        field('platform', 'string'),
        field('bundleId', 'string'),
        optStr('storeId'),
        optStr('appVersion'),
        field('osVersion', 'string'),
        optStr('osBuild'),
        optStr('make'),
        optStr('model'),
        optStr('locale'),
        optStr('language'),
        optStr('ip'),
        optStr('ipv6'),
        optStr('country'),
        optStr('userAgent'),
        opt('uaPairs', { type: 'map', values: 'string' }),
        field('ids', {
          type: 'record',
          name: 'DeviceIds',
          fields: ['idfa', 'idfv', 'aifa', 'asid', 'andi', 'amid', 'oaid'].map(optStr),
        }),
        optInt('attStatus'),
        optBool('limitAdTracking'),
        optStr('customUserId'),
        optBool('limitDataSharing'),
        optStr('connectionType'),
        optStr('carrier'),
        opt('globalProperties', { type: 'map', values: 'string' }),
        opt('skan', { type: 'map', values: 'long' }),
        optLong('timestampMs'),
        // session
        optBool('install'),
        optLong('installTimeS'),
        optLong('updateTimeS'),
        optLong('firstLaunchMs'),
        optStr('installSource'),
        optStr('installReceipt'),
        opt('installRef', {
          type: 'record',
          name: 'InstallReferrer',
          fields: [
            field('referrer', 'string'),
            field('clickTimestampSeconds', 'long'),
            field('installBeginTimestampSeconds', 'long'),
            optLong('currentDeviceTimeMs'),
          ],
        }),
        opt('metaRef', {
          type: 'record',
          name: 'MetaReferrer',
          fields: [field('isCt', 'int'), field('installReferrer', 'string'), field('actualTimestampS', 'long')],
        }),
        optStr('attributionToken'),
        optStr('openUri'),
        optBool('resolveShortLink'),
        optBool('ddlEnabled'),
        optStr('appName'),
        optStr('apnsToken'),
        optStr('fcmToken'),
        opt('onside', {
          type: 'record',
          name: 'OnsideInstall',
          fields: [field('token', 'string'), optLong('availableCapacity'), optStr('jws')],
        }),
        // event
        optStr('name'),
        opt('attributes', { type: 'map', values: ['string', 'double', 'boolean'] }),
        optBool('isRevenueEvent'),
        opt('amount', 'double'),
        optStr('currency'),
        optStr('purchaseReceipt'),
        optStr('receiptSignature'),
        optStr('productId'),
        optStr('transactionId'),
      ],
    }),
  ],
};

const Claim = {
  type: 'record',
  name: 'OathClaim',
  fields: [
    field('timestampMs', 'long'),
    field('eventType', 'int'),
    optLong('creativeId'),
    optStr('creativeName'),
    optLong('adgroupId'),
    optStr('adgroupName'),
    optLong('campaignId'),
    optStr('campaignName'),
    optLong('advertiserId'),
    optStr('advertiserName'),
    optStr('siteId'),
    optStr('ipAddress'),
    optInt('demandPlatformId'),
    optStr('campaignType'),
  ],
};

/** s2s.replies value, v1: the outcome of one (record, partner) pair, keyed by device. */
export const REPLY_V1 = {
  type: 'record',
  name: 'Reply',
  namespace: 'dev.s2srelay.v1',
  fields: [
    field('requestId', 'string'),
    field('appId', 'string'),
    field('deviceKey', 'string'),
    field('partner', Partner),
    field('outcome', { type: 'enum', name: 'Outcome', symbols: ['forwarded', 'suppressed', 'parked', 'dlq'] }),
    field('atMs', 'long'),
    /** Why: the DLQ reason, the parking cause, or the suppression rule. */
    optStr('reason'),
    /** True when the partner call was left in doubt (timeout or crash): it may or may not have been processed. */
    field('inDoubt', 'boolean', false),
    opt('singular', {
      type: 'record',
      name: 'SingularAnswer',
      fields: [
        optStr('deferredDeeplink'),
        optStr('deferredPassthrough'),
        optStr('resolvedSingularLink'),
        /** Any other field Singular returned (e.g. SKAN conversion values), JSON-encoded values. */
        field('extra', { type: 'map', values: 'string' }, {}),
      ],
    }),
    opt('oath', {
      type: 'record',
      name: 'OathAnswer',
      fields: [field('claims', { type: 'array', items: Claim }, []), optStr('networkId')],
    }),
    opt('onside', {
      type: 'record',
      name: 'OnsideAnswer',
      fields: [
        field('installationToken', 'string'),
        optStr('jti'),
        opt('attributionData', {
          type: 'record',
          name: 'OnsideAttribution',
          fields: [
            optStr('marketingCampaign'),
            optStr('source'),
            field('tags', { type: 'array', items: 'string' }, []),
            optStr('clickId'),
          ],
        }),
      ],
    }),
  ],
};

/**
 * s2s.replies value, v2: adds `expected`, the partners the worker sends this record to, so that a
 * waiting client (`Prefer: wait`) knows when every answer is in. Replies written as v1 read as `[]`.
 */
export const REPLY_V2 = {
  ...REPLY_V1,
  fields: [...REPLY_V1.fields, field('expected', { type: 'array', items: 'Partner' }, [])],
};

/** s2s.dlq value, v1: a record that can never succeed at one partner, with why and the original message. */
export const DLQ_V1 = {
  type: 'record',
  name: 'DeadLetter',
  namespace: 'dev.s2srelay.v1',
  fields: [
    field('requestId', 'string'),
    field('appId', 'string'),
    field('deviceKey', 'string'),
    opt('partner', Partner),
    /** Stable reason code, e.g. `no_session`, `partner_rejected`, `too_old`, `verification_failed`. */
    field('reason', 'string'),
    optStr('detail'),
    /** The partner's answer as received (secrets removed), when there was one. */
    optStr('partnerAnswer'),
    field('attempts', 'int', 0),
    field('failedAtMs', 'long'),
    /** The original s2s.ingest message: its schema fingerprint and bytes, for re-drive. */
    field('originalSchema', 'string'),
    field('original', 'bytes'),
  ],
};

export class SchemaError extends Error {
  readonly code = 'SCHEMA_UNKNOWN';
  readonly retryable = false;
}

/** A topic's codec: encodes with the current schema, decodes any schema in its history. */
export interface Codec<T> {
  readonly fingerprint: string;
  encode(value: T): Buffer;
  decode(buf: Buffer, fingerprint?: string): T;
}

export function createCodec<T>(history: readonly object[]): Codec<T> {
  const types = history.map((s) => avro.Type.forSchema(s as avro.Schema));
  const current = types[types.length - 1];
  if (!current) throw new Error('a codec needs at least one schema');
  const fp = (t: avro.Type) => t.fingerprint('sha256').toString('hex');
  const resolvers = new Map<string, avro.Resolver | null>();
  for (const t of types) resolvers.set(fp(t), t === current ? null : current.createResolver(t));
  const fingerprint = fp(current);
  return {
    fingerprint,
    encode: (value) => current.toBuffer(value),
    decode: (buf, writer = fingerprint) => {
      const resolver = resolvers.get(writer);
      if (resolver === undefined) throw new SchemaError(`no known schema has fingerprint ${writer}`);
      return (resolver ? current.fromBuffer(buf, resolver) : current.fromBuffer(buf)) as T;
    },
  };
}
