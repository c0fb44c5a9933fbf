import { verify as cryptoVerify } from 'node:crypto';
import { compactVerify } from 'jose';
import type { DeviceCredential } from '../../domain/model.js';
import type { DecodedToken, TokenVerifier } from '../../services/device-auth.js';
import { parseDeviceVerificationKey } from './key-inspector.js';

/**
 * Verifies device JWTs with `jose`. Embedded firmware is lenient in ways Google tolerated
 * (spec §4.1, §10.15): padded segments, the standard base64 alphabet, DER-encoded ES256
 * signatures. A token whose header and payload are canonical base64url goes to jose (a DER
 * signature is converted to raw r||s first: it is not part of the signed bytes). The signature of
 * a token with non-canonical segments covers those exact bytes, which jose will not take; only
 * that case is checked with node:crypto directly, over the bytes as the device sent them.
 */

interface Decoded extends DecodedToken {
  /** Strict compact serialisation handed to jose, when the signed segments are canonical. */
  compact: string | undefined;
  /** The signed bytes as sent, and the raw signature, for non-canonical tokens. */
  signingInput: string;
  signature: Buffer;
}

const toUrl = (seg: string): string => seg.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

export class JoseTokenVerifier implements TokenVerifier {
  decode(token: string): DecodedToken | undefined {
    const parts = token.split('.');
    if (parts.length !== 3 || token.length > 16 * 1024) return undefined;
    const [rawH, rawP] = parts as [string, string, string];
    const [h, p, s] = parts.map(toUrl) as [string, string, string];
    let header: unknown;
    let payload: unknown;
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
      payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (typeof header !== 'object' || header === null) return undefined;
    const alg = (header as { alg?: unknown }).alg;
    if (typeof alg !== 'string') return undefined;
    let signature: Buffer = Buffer.from(s, 'base64url');
    if (alg === 'ES256' && signature.length !== 64) {
      const converted = derToRaw(signature);
      if (!converted) return undefined;
      signature = converted;
    }
    const canonical = h === rawH && p === rawP;
    const decoded: Decoded = {
      alg,
      payload,
      compact: canonical ? `${h}.${p}.${signature.toString('base64url')}` : undefined,
      signingInput: `${rawH}.${rawP}`,
      signature,
    };
    return decoded;
  }

  async verify(token: DecodedToken, credential: DeviceCredential): Promise<boolean> {
    const { compact, signingInput, signature } = token as Decoded;
    let key;
    try {
      key = parseDeviceVerificationKey(credential.format, credential.key);
    } catch {
      return false;
    }
    if (key.alg !== token.alg) return false;
    try {
      if (compact !== undefined) {
        await compactVerify(compact, key.key, { algorithms: [key.alg] });
        return true;
      }
      const input = Buffer.from(signingInput, 'ascii');
      return key.alg === 'ES256'
        ? cryptoVerify('sha256', input, { key: key.key, dsaEncoding: 'ieee-p1363' }, signature)
        : cryptoVerify('sha256', input, key.key, signature);
    } catch {
      return false;
    }
  }
}

/** ECDSA-Sig-Value (SEQUENCE of two INTEGERs) to JOSE's raw r||s, 32 bytes each. */
function derToRaw(der: Buffer): Buffer | undefined {
  if (der.length < 8 || der[0] !== 0x30) return undefined;
  let i = 2;
  if (der[1]! & 0x80) i = 2 + (der[1]! & 0x7f);
  const out = Buffer.alloc(64);
  for (let n = 0; n < 2; n++) {
    if (der[i] !== 0x02) return undefined;
    const len = der[i + 1]!;
    let int = der.subarray(i + 2, i + 2 + len);
    i += 2 + len;
    while (int.length > 32 && int[0] === 0) int = int.subarray(1);
    if (int.length > 32) return undefined;
    int.copy(out, n * 32 + (32 - int.length));
  }
  return out;
}
