import { SignJWT } from 'jose';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { ApiError } from '../../domain/errors.js';

export interface MintDeviceJwtOptions {
  /** Any private key PEM node reads: PKCS#8, PKCS#1 `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`. */
  privateKeyPem: string;
  alg: 'RS256' | 'ES256';
  /** The project ID (spec §4.1 `aud`). */
  audience: string;
  /** Seconds since the epoch; default now. */
  issuedAt?: number;
  /** Default 3600. Cloud IoT caps the lifetime at 24 h; not enforced here so tests can mint bad tokens. */
  expiresInSeconds?: number;
}

/**
 * A device JWT as Google's samples mint it: header {alg, typ: "JWT"}, claims {aud, iat, exp}.
 * ES256 signatures come out in JOSE raw R‖S form (64 bytes), as jose always produces.
 */
export async function mintDeviceJwt(opts: MintDeviceJwtOptions): Promise<string> {
  const iat = opts.issuedAt ?? Math.floor(Date.now() / 1000);
  const lifetime = opts.expiresInSeconds ?? 3600;
  if (!Number.isSafeInteger(iat)) throw invalid('issuedAt', 'must be whole seconds since the epoch');
  if (!Number.isSafeInteger(lifetime)) throw invalid('expiresInSeconds', 'must be a whole number of seconds');
  if (opts.audience === '') throw invalid('audience', 'must be the project ID');

  const key = privateKeyFor(opts.alg, opts.privateKeyPem);
  return new SignJWT({})
    .setProtectedHeader({ alg: opts.alg, typ: 'JWT' })
    .setAudience(opts.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetime)
    .sign(key);
}

// Google's own docs create SEC1 EC keys (`openssl ecparam -genkey`), which jose's importPKCS8
// refuses; node reads every common encoding, and jose signs with a KeyObject directly.
function privateKeyFor(alg: 'RS256' | 'ES256', pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw invalid('privateKey', `could not be parsed: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const type = key.asymmetricKeyType;
  if (alg === 'RS256' && type !== 'rsa') throw invalid('privateKey', `RS256 needs an RSA key, got ${type ?? 'unknown'}`);
  if (alg === 'ES256' && (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) {
    throw invalid('privateKey', `ES256 needs an EC P-256 key, got ${type ?? 'unknown'} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim());
  }
  return key;
}

function invalid(field: string, problem: string, cause?: unknown): ApiError {
  return new ApiError('INVALID_ARGUMENT', `Invalid ${field}: ${problem}`, { field, cause });
}
