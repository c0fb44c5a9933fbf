import { compactVerify } from 'jose';
import type { DeviceCredential } from '../../domain/model.js';
import type { DecodedToken, TokenVerifier } from '../../services/device-auth.js';
import { parseDeviceVerificationKey } from './key-inspector.js';

/**
 * Verifies device JWTs with `jose`. Embedded firmware is lenient in ways Google tolerated
 * (spec §4.1, §10.15): padded segments, the standard base64 alphabet, DER-encoded ES256
 * signatures. Tokens are normalised to strict JWS compact form before jose sees them, so jose
 * still does all the cryptography and header checking.
 */

interface Decoded extends DecodedToken {
  /** Strict compact serialisation handed to jose. */
  compact: string;
}

const toUrl = (seg: string): string => seg.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

export class JoseTokenVerifier implements TokenVerifier {
  decode(token: string): DecodedToken | undefined {
    const parts = token.split('.');
    if (parts.length !== 3 || token.length > 16 * 1024) return undefined;
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
    let sig = s;
    if (alg === 'ES256') {
      const raw = Buffer.from(s, 'base64url');
      if (raw.length !== 64) {
        const converted = derToRaw(raw);
        if (!converted) return undefined;
        sig = converted.toString('base64url');
      }
    }
    const decoded: Decoded = { alg, payload, compact: `${h}.${p}.${sig}` };
    return decoded;
  }

  async verify(token: DecodedToken, credential: DeviceCredential): Promise<boolean> {
    const { compact } = token as Decoded;
    let key;
    try {
      key = parseDeviceVerificationKey(credential.format, credential.key);
    } catch {
      return false;
    }
    if (key.alg !== token.alg) return false;
    try {
      await compactVerify(compact, key.key, { algorithms: [key.alg] });
      return true;
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
