/**
 * Test helper (not exported): Onside signing keys made with jose, answers signed like Onside's
 * (RS256, `kid`, no `typ`), and a local Onside (node:http) serving a mutable JWKS and a scriptable
 * install endpoint.
 */
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { json, type Received, startServer, type TestServer } from './server.js';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function signingKey(kid = 'public_key_1'): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid } };
}

export async function sign(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: key.kid, ...header }).sign(key.privateKey);
}

/** Onside's documented claims for a request, at `nowS`. */
export function claimsFor(bundleId: string, token: string, nowS: number, extra: Record<string, unknown> = {}): JWTPayload {
  return {
    iss: 'https://onside.io',
    aud: bundleId,
    iat: nowS,
    exp: nowS + 3600,
    jti: '4d3f2c1a-6b7c-4d3f-8c1a-6b7c4d3f8c1a',
    request_token: token,
    installation_token: 'a1b2c3d4-onside-install-token-5e6f',
    ...extra,
  };
}

export interface FakeOnside {
  server: TestServer;
  url: string;
  /** The keys the JWKS serves; change it to rotate. */
  keys: JWK[];
  jwksStatus: number;
  jwksFetches(): number;
  installCalls(): Received[];
  /** Answers install calls; default 500 until a test sets it. */
  onInstall: (req: Received) => Promise<{ status: number; body: string; contentType?: string }>;
  close(): Promise<void>;
}

export async function startFakeOnside(keys: JWK[]): Promise<FakeOnside> {
  const server = await startServer();
  const fake: FakeOnside = {
    server,
    url: server.url,
    keys,
    jwksStatus: 200,
    jwksFetches: () => server.requests.filter((r) => r.url === '/.well-known/jwks.json').length,
    installCalls: () => server.requests.filter((r) => r.url === '/merchant-api/v1/attribution/install'),
    onInstall: async () => ({ status: 500, body: 'no script' }),
    close: () => server.close(),
  };
  server.handle(async (req, res) => {
    if (req.method === 'GET' && req.url === '/.well-known/jwks.json') return json(res, fake.jwksStatus, { keys: fake.keys });
    if (req.method === 'POST' && req.url === '/merchant-api/v1/attribution/install') {
      const a = await fake.onInstall(req);
      res.writeHead(a.status, { 'content-type': a.contentType ?? 'application/jose' });
      return res.end(a.body);
    }
    return json(res, 404, { error: 'not found' });
  });
  return fake;
}
