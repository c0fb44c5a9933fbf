import { createHmac, createPrivateKey, sign } from 'node:crypto';

/**
 * Hand-rolled device JWTs for tests that need what a well-behaved minting library refuses to make:
 * `alg: none`, HS256, forged signatures, string-typed claims, padded or standard-alphabet base64
 * and DER-encoded ES256 signatures (spec §4.1, §10.15).
 */

export interface RawJwtOptions {
  /** Header; default `{ alg, typ: 'JWT' }`. */
  header?: Record<string, unknown>;
  alg: 'RS256' | 'ES256' | 'HS256' | 'none';
  /** PEM private key (RS256/ES256) or the HMAC secret (HS256). */
  key?: string;
  /** ES256 signature encoding; default raw R‖S as JOSE requires. */
  dsaEncoding?: 'ieee-p1363' | 'der';
  /** Keep `=` padding on every segment. */
  padded?: boolean;
  /** Standard base64 alphabet (`+`, `/`) instead of base64url. */
  standardAlphabet?: boolean;
}

function encode(bytes: Buffer, o: RawJwtOptions): string {
  let s = bytes.toString(o.standardAlphabet ? 'base64' : 'base64url');
  if (!o.standardAlphabet) {
    if (o.padded) s += '='.repeat((4 - (s.length % 4)) % 4);
  } else if (!o.padded) {
    s = s.replace(/=+$/, '');
  }
  return s;
}

export function signRawJwt(payload: Record<string, unknown>, o: RawJwtOptions): string {
  const header = o.header ?? { alg: o.alg, typ: 'JWT' };
  const input = `${encode(Buffer.from(JSON.stringify(header)), o)}.${encode(Buffer.from(JSON.stringify(payload)), o)}`;
  let signature: Buffer;
  switch (o.alg) {
    case 'none':
      signature = Buffer.alloc(0);
      break;
    case 'HS256':
      signature = createHmac('sha256', o.key ?? 'secret').update(input).digest();
      break;
    case 'RS256':
      signature = sign('sha256', Buffer.from(input), createPrivateKey(requireKey(o)));
      break;
    case 'ES256':
      signature = sign('sha256', Buffer.from(input), { key: createPrivateKey(requireKey(o)), dsaEncoding: o.dsaEncoding ?? 'ieee-p1363' });
      break;
  }
  return `${input}.${encode(signature, o)}`;
}

function requireKey(o: RawJwtOptions): string {
  if (o.key === undefined) throw new Error(`${o.alg} needs a private key`);
  return o.key;
}

/** The usual device claims relative to `nowS` (seconds). */
export const claims = (aud: string, nowS: number, lifetimeS = 3600): Record<string, unknown> => ({ aud, iat: nowS, exp: nowS + lifetimeS });

/** Flips one character of the signature segment: a well-formed token that no key verifies. */
export function forgeSignature(token: string): string {
  const dot = token.lastIndexOf('.');
  const sig = token.slice(dot + 1);
  const i = Math.floor(sig.length / 2);
  const flipped = sig[i] === 'A' ? 'B' : 'A';
  return `${token.slice(0, dot + 1)}${sig.slice(0, i)}${flipped}${sig.slice(i + 1)}`;
}
