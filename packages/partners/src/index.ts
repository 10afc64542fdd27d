/**
 * @s2s/partners: canonical records → partner wire formats, one small HTTP client, typed answers and
 * typed errors. The worker calls `createSingularClient`, `createOathClient`, `createOnsideClient`;
 * the pure builders are exported for tests and for the worker's dedupe.
 */
export * from './encoding.js';
export * from './errors.js';
export {
  createHttpClient,
  DEFAULT_MAX_URL_BYTES,
  DEFAULT_TIMEOUT_MS,
  type HttpClient,
  type HttpClientOptions,
  type HttpRequest,
  type HttpResponse,
} from './http.js';
export * from './oath/answer.js';
export * from './oath/build.js';
export * from './oath/client.js';
export * from './onside/build.js';
export * from './onside/client.js';
export * from './onside/jwks.js';
export * from './onside/verify.js';
export * from './singular/answer.js';
export * from './singular/build.js';
export * from './singular/client.js';
export * from './types.js';
