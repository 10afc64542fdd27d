/**
 * Query-string encoding shared by the partner builders. Every value is percent-encoded exactly
 * once, RFC 3986 style: everything but `A-Z a-z 0-9 - _ . ~` is escaped, so a space is `%20`
 * (never `+`) and `!'()*` are escaped too (Singular's sample `n=Go%20Go%20Magnet%21`, Oath's
 * signed vectors). Parameter order is the order of `add` calls: Oath signs the bytes as sent.
 */

/** Percent-encodes a query value (or name) once, RFC 3986 unreserved set only. */
export function encodeValue(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An ordered list of query parameters that renders to `k=v&k=v`, each value encoded once. */
export class Query {
  readonly #pairs: [string, string][] = [];

  /** Adds `name=value`; skips undefined. Booleans and numbers are written as `true`/`false` and decimal. */
  add(name: string, value: string | number | boolean | undefined): this {
    if (value === undefined) return this;
    this.#pairs.push([name, String(value)]);
    return this;
  }

  /** Adds a JSON-valued parameter: serialised once, then encoded once like any other value. */
  addJson(name: string, value: unknown): this {
    if (value === undefined) return this;
    return this.add(name, JSON.stringify(value));
  }

  has(name: string): boolean {
    return this.#pairs.some(([k]) => k === name);
  }

  get(name: string): string | undefined {
    return this.#pairs.find(([k]) => k === name)?.[1];
  }

  entries(): readonly (readonly [string, string])[] {
    return this.#pairs;
  }

  toString(): string {
    return this.#pairs.map(([k, v]) => `${encodeValue(k)}=${encodeValue(v)}`).join('&');
  }
}

const REDACTED = '[redacted]';

/** Replaces the values of the named query parameters of a URL (or query string) by `[redacted]`. */
export function redactQuery(url: string, names: readonly string[]): string {
  if (names.length === 0) return url;
  const alt = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return url.replace(new RegExp(`((?:^|[?&])(?:${alt})=)[^&#]*`, 'g'), `$1${REDACTED}`);
}

/**
 * Removes every occurrence of each secret, raw and percent-encoded, from a text that may travel in
 * an error or a log (a partner's echo of the request, a library's error message).
 */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    for (const form of new Set([s, encodeValue(s), encodeURIComponent(s)])) out = out.split(form).join(REDACTED);
  }
  return out;
}

/** Strips an all-zero identifier (S8, S-O14): the OS gave none. */
export function realId(id: string | undefined): string | undefined {
  return id && !/^[0-]+$/.test(id) ? id : undefined;
}
