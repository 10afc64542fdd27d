/**
 * Onside's signing keys (spec §3.4, §3.6): RSA 2048, RS256, published as a JWKS. Rotation makes a
 * new key the signer and either keeps the old one published (a client holding the new `kid` must
 * refetch) or drops it.
 */
import { exportJWK, generateKeyPair, type JWK } from 'jose';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface SigningKey {
  kid: string;
  privateKey: PrivateKey;
  /** Public half as published: kty, n, e, kid, alg, use. */
  publicJwk: JWK;
}

export async function generateSigningKey(kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(publicKey);
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'RS256', use: 'sig' } };
}

export class KeyRing {
  private published: SigningKey[];
  private rotations = 0;
  /** Signs the `unknown-kid` forgery; never published. */
  private stranger: SigningKey | undefined;

  constructor(
    private signer: SigningKey,
    private readonly generate: (kid: string) => Promise<SigningKey> = generateSigningKey,
  ) {
    this.published = [signer];
  }

  get active(): SigningKey {
    return this.signer;
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.published.map((k) => k.publicJwk) };
  }

  kids(): string[] {
    return this.published.map((k) => k.kid);
  }

  /** A new signer; the old keys stay published when `keepOld`. */
  async rotate(kid: string | undefined, keepOld: boolean): Promise<SigningKey> {
    this.rotations++;
    const next = await this.generate(kid ?? `public_key_rotated_${this.rotations}`);
    this.published = keepOld ? [next, ...this.published.filter((k) => k.kid !== next.kid)] : [next];
    this.signer = next;
    return next;
  }

  async unpublished(): Promise<SigningKey> {
    this.stranger ??= await this.generate('unknown_key');
    return this.stranger;
  }
}
