/**
 * Claim checks of a device JWT (spec §4.1, §4.2). Pure: the signature is checked elsewhere.
 */

export const JWT_SKEW_S = 600;
export const JWT_MAX_LIFETIME_S = 24 * 3600;

export type ClaimFailure = 'malformed-claims' | 'wrong-audience' | 'issued-in-future' | 'expired' | 'lifetime-too-long';

export type ClaimResult = { ok: true; expiresAtS: number } | { ok: false; reason: ClaimFailure; message: string };

/** Embedded C samples wrote `"exp":"1549534838"`; accept numeric strings (spec §4.1, §10.15). */
function numericClaim(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return Math.floor(v);
  if (typeof v === 'string' && /^\d{1,12}$/.test(v)) return Number(v);
  return undefined;
}

export function checkClaims(payload: unknown, audience: string, nowS: number): ClaimResult {
  if (typeof payload !== 'object' || payload === null) return { ok: false, reason: 'malformed-claims', message: 'The JWT payload is not a JSON object.' };
  const p = payload as Record<string, unknown>;
  const iat = numericClaim(p.iat);
  const exp = numericClaim(p.exp);
  if (iat === undefined || exp === undefined) {
    return { ok: false, reason: 'malformed-claims', message: 'The JWT must carry numeric "iat" and "exp" claims.' };
  }
  const aud = p.aud;
  const audOk = aud === audience || (Array.isArray(aud) && aud.length === 1 && aud[0] === audience);
  if (!audOk) return { ok: false, reason: 'wrong-audience', message: 'The JWT audience ("aud") is not the project ID.' };
  if (iat > nowS + JWT_SKEW_S) return { ok: false, reason: 'issued-in-future', message: 'The JWT was issued in the future ("iat" beyond the allowed clock skew).' };
  if (exp <= nowS - JWT_SKEW_S) return { ok: false, reason: 'expired', message: 'The JWT has expired.' };
  if (exp - iat > JWT_MAX_LIFETIME_S + JWT_SKEW_S) {
    return { ok: false, reason: 'lifetime-too-long', message: 'The JWT lifetime ("exp" - "iat") exceeds 24 hours.' };
  }
  return { ok: true, expiresAtS: exp };
}
