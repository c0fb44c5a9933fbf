import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from 'jose';
import { pushTokenClaims } from './push-token-claims.js';

export const PUSH_SIGNING_KEY_FILE = 'push-signing-key.pem';

/** A token is reused until this long before it expires (receivers allow some skew, not much). */
const REUSE_UNTIL_S = 300;

/** Distinct (audience, email) pairs kept; push configs that keep changing audience must not grow it forever. */
const MAX_CACHED = 1000;

export interface JwkSet {
  keys: (JWK & { kid: string; alg: 'RS256'; use: 'sig' })[];
}

/** The RSA key in `<dataDir>/push-signing-key.pem`, generated (0600) on first use. */
function loadOrCreateKey(dataDir: string): KeyObject {
  const file = join(dataDir, PUSH_SIGNING_KEY_FILE);
  try {
    return createPrivateKey(readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`push signing key ${file}: ${(e as Error).message}`);
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  try {
    // 'wx': a second server starting on the same directory at the same moment keeps the first key.
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return createPrivateKey(readFileSync(file, 'utf8'));
  }
  return privateKey;
}

/**
 * Signs the tokens push requests carry (RS256) and publishes the public key as a JWKS, so that a
 * push endpoint verifies Bridgehead's requests the way it verified Google's, with the certs URL
 * changed (docs/compat.md C-PS-PUSH-TOKEN).
 */
export class PushTokenSigner {
  private readonly cache = new Map<string, { token: string; exp: number }>();

  private constructor(
    private readonly key: KeyObject,
    private readonly kid: string,
    private readonly publicJwk: JWK,
    private readonly issuer: string,
  ) {}

  static async open(dataDir: string, issuer: string): Promise<PushTokenSigner> {
    const key = loadOrCreateKey(dataDir);
    const jwk = await exportJWK(createPublicKey(key));
    return new PushTokenSigner(key, await calculateJwkThumbprint(jwk), jwk, issuer);
  }

  jwks(): JwkSet {
    return { keys: [{ ...this.publicJwk, kid: this.kid, alg: 'RS256', use: 'sig' }] };
  }

  async token(audience: string, email: string, nowMs: number): Promise<string> {
    const cacheKey = `${audience}\n${email}`;
    const cached = this.cache.get(cacheKey);
    if (cached && cached.exp - REUSE_UNTIL_S > nowMs / 1000) return cached.token;
    const claims = pushTokenClaims({ issuer: this.issuer, audience, email, nowMs });
    const token = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'RS256', kid: this.kid, typ: 'JWT' }).sign(this.key);
    if (this.cache.size >= MAX_CACHED) {
      for (const [k, v] of this.cache) if (v.exp - REUSE_UNTIL_S <= nowMs / 1000) this.cache.delete(k);
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
    }
    this.cache.set(cacheKey, { token, exp: claims.exp });
    return token;
  }
}
