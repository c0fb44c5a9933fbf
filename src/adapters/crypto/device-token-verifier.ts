import { verify as cryptoVerify } from 'node:crypto';
import type { DeviceCredential } from '../../domain/model.js';
import type { DecodedToken, TokenVerifier } from '../../services/device-auth.js';
import { parseDeviceVerificationKey } from './key-inspector.js';

/**
 * Verifies device JWTs (compact JWS, RS256 or ES256) with node:crypto's one-shot `verify`, over a
 * KeyObject parsed once per credential (parseDeviceVerificationKey's cache). Synchronous: a
 * signature check is 40-80 µs of CPU either way, and WebCrypto's promise job round trip (which jose
 * takes) cost several times that per connect.
 *
 * Embedded firmware is lenient in ways Google tolerated (spec §4.1, §10.15): padded segments, the
 * standard base64 alphabet, DER-encoded ES256 signatures. The signature covers the header and
 * payload segments exactly as the device sent them, so it is checked over those bytes whatever
 * their alphabet; a DER signature is converted to JOSE's raw r‖s (it is not part of the signed
 * bytes). What jose's compactVerify refused is refused here too: a header that is not a JSON
 * object or not valid UTF-8, characters outside the base64 alphabets, a `crit` parameter other than
 * a well-formed `b64` (RFC 7515 §4.1.11), and an unencoded payload (`b64: false`, RFC 7797), which
 * no device sends and whose claims would not be the ones decoded here. One deliberate difference:
 * RSA keys under 2048 bits verify (key-inspector accepts them as device credentials on purpose;
 * jose refused them for strict tokens only).
 */

interface Decoded extends DecodedToken {
  /** The signed bytes as sent (header segment, '.', payload segment). */
  signingInput: Buffer;
  signature: Buffer;
  /** False when the JOSE header asks for what compact JWS verification must refuse (see crit). */
  headerOk: boolean;
}

/** Longer tokens are not read at all. */
const MAX_TOKEN_CHARS = 16 * 1024;
/** A segment in base64url or standard base64, optionally padded (empty: an unsigned token, refused by alg). */
const SEGMENT = /^[A-Za-z0-9_\-+/]*={0,2}$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function segmentBytes(seg: string): Buffer | undefined {
  if (!SEGMENT.test(seg)) return undefined;
  // Buffer's base64 decoder reads both alphabets, padded or not; a length that no encoding
  // produces is refused rather than silently truncated.
  if (seg.replace(/=+$/, '').length % 4 === 1) return undefined;
  return Buffer.from(seg, 'base64');
}

function parseJson(bytes: Buffer): unknown {
  return JSON.parse(strictUtf8.decode(bytes));
}

export class DeviceTokenVerifier implements TokenVerifier {
  decode(token: string): DecodedToken | undefined {
    if (token.length > MAX_TOKEN_CHARS) return undefined;
    const first = token.indexOf('.');
    const second = first < 0 ? -1 : token.indexOf('.', first + 1);
    if (second < 0 || token.indexOf('.', second + 1) >= 0) return undefined;
    const h = segmentBytes(token.slice(0, first));
    const p = segmentBytes(token.slice(first + 1, second));
    const s = segmentBytes(token.slice(second + 1));
    if (h === undefined || p === undefined || s === undefined) return undefined;
    let header: unknown;
    let payload: unknown;
    try {
      header = parseJson(h);
      payload = parseJson(p);
    } catch {
      return undefined;
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) return undefined;
    const alg = (header as { alg?: unknown }).alg;
    if (typeof alg !== 'string') return undefined;
    let signature: Buffer = s;
    if (alg === 'ES256' && signature.length !== 64) {
      const converted = derToRaw(signature);
      if (!converted) return undefined;
      signature = converted;
    }
    const decoded: Decoded = {
      alg,
      payload,
      // The segments were checked to be ASCII: latin1 copies them byte for byte.
      signingInput: Buffer.from(token.slice(0, second), 'latin1'),
      signature,
      headerOk: critAccepted(header as Record<string, unknown>),
    };
    return decoded;
  }

  verify(token: DecodedToken, credential: DeviceCredential): Promise<boolean> {
    return Promise.resolve(this.verifySync(token as Decoded, credential));
  }

  /** The signature check itself, synchronous (verify wraps it for the TokenVerifier port). */
  verifySync(token: Decoded, credential: DeviceCredential): boolean {
    if (!token.headerOk) return false;
    let key;
    try {
      key = parseDeviceVerificationKey(credential.format, credential.key);
    } catch {
      return false;
    }
    // The alg allow-list is the authenticator's; here the header's alg must be the key's.
    if (key.alg !== token.alg) return false;
    try {
      return key.alg === 'ES256'
        ? cryptoVerify('sha256', token.signingInput, { key: key.key, dsaEncoding: 'ieee-p1363' }, token.signature)
        : cryptoVerify('sha256', token.signingInput, key.key, token.signature);
    } catch {
      return false;
    }
  }
}

/**
 * RFC 7515 §4.1.11 as jose applies it to compact JWS: no `crit`, or a non-empty list of distinct,
 * non-empty names, each present in the header and understood; the only extension understood is
 * `b64` (RFC 7797), and only as `true` (a payload encoded like any other).
 */
function critAccepted(header: Record<string, unknown>): boolean {
  const crit = header.crit;
  if (crit === undefined) return true;
  if (!Array.isArray(crit) || crit.length === 0 || new Set(crit).size !== crit.length) return false;
  for (const name of crit as unknown[]) {
    if (name !== 'b64' || header[name] === undefined) return false;
  }
  return header.b64 === true;
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
