import { createPublicKey, generateKeyPair, randomBytes, randomInt, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { DecodedJwt, ServiceAccountCrypto } from '../../services/ports.js';

const generateRsa = promisify(generateKeyPair);

/** Google's service-account JWTs are well under 2 KiB; anything much larger is not one. */
const MAX_JWT_CHARS = 16 * 1024;
const SEGMENT = /^[A-Za-z0-9_-]+$/;
/** Empty too: an unsigned ("alg":"none") token must reach the header check and be refused for its alg. */
const SIGNATURE = /^[A-Za-z0-9_-]*$/;
/** Parsed public keys by PEM: parsing costs about as much as verifying, and the same keys sign every call. */
const KEY_CACHE_SIZE = 1024;

/**
 * Service-account crypto on node:crypto. JWTs are taken strictly: three canonical base64url
 * segments (no padding, no standard alphabet), as Google's libraries produce them; the signature
 * is checked over the segments exactly as received.
 */
export class NodeServiceAccountCrypto implements ServiceAccountCrypto {
  private readonly keys = new Map<string, KeyObject>();

  async newRsaKeyPair(): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
    // Generated on the libuv pool: RSA key generation takes tens of milliseconds.
    const { privateKey, publicKey } = await generateRsa('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    return { privateKeyPem: privateKey, publicKeyPem: publicKey };
  }

  decodeJwt(token: string): DecodedJwt | undefined {
    if (token.length > MAX_JWT_CHARS) return undefined;
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [h, p, s] = parts as [string, string, string];
    if (!SEGMENT.test(h) || !SEGMENT.test(p) || !SIGNATURE.test(s)) return undefined;
    try {
      return {
        header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
        payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
        signingInput: `${h}.${p}`,
        signature: Buffer.from(s, 'base64url'),
      };
    } catch {
      return undefined;
    }
  }

  verifyRs256(jwt: DecodedJwt, publicKeyPem: string): boolean {
    try {
      const key = this.publicKey(publicKeyPem);
      if (key.asymmetricKeyType !== 'rsa') return false;
      return verify('sha256', Buffer.from(jwt.signingInput, 'ascii'), key, jwt.signature);
    } catch {
      return false;
    }
  }

  randomHex(bytes: number): string {
    return randomBytes(bytes).toString('hex');
  }

  randomDigits(digits: number): string {
    let out = String(randomInt(1, 10));
    while (out.length < digits) out += String(randomInt(0, 10));
    return out;
  }

  randomToken(): string {
    return randomBytes(32).toString('base64url');
  }

  private publicKey(pem: string): KeyObject {
    let key = this.keys.get(pem);
    if (!key) {
      key = createPublicKey(pem);
      if (this.keys.size >= KEY_CACHE_SIZE) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(pem, key);
    }
    return key;
  }
}
