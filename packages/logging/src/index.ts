/**
 * One root pino logger per process; modules take `logger.child({ module })`.
 * Secrets are removed by path before a line is written (design invariant 6): API keys, SDK keys,
 * HMAC keys, authorization headers, and the Singular `a` query parameter wherever a URL is logged.
 */
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-admin-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.apiKey',
  '*.sdkKey',
  '*.hmacKey',
  '*.adminKey',
  '*.secret',
  '*.password',
  'apiKey',
  'sdkKey',
  'hmacKey',
  'adminKey',
  'config.SINGULAR_SDK_KEY',
  'config.OATH_HMAC_KEY',
];

/** Query parameters that carry secrets in URLs (Singular's SDK key is `a`, Oath's signature `bs`). */
const SECRET_QUERY = /([?&](?:a|api_key|key|bs)=)[^&#\s"]*/g;

/** Removes secret query values from a URL or any string that contains one. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, '$1[redacted]');
}

export interface CreateLoggerOptions {
  name: string;
  level?: string;
  destination?: DestinationStream;
}

export function createLogger({ name, level = 'info', destination }: CreateLoggerOptions): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      err: pino.stdSerializers.err,
      url: (u: unknown) => (typeof u === 'string' ? redactUrl(u) : u),
    },
    base: { pid: process.pid },
  };
  return destination ? pino(options, destination) : pino(options);
}
