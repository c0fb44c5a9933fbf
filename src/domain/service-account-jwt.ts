/**
 * The rules a service-account JWT must meet (docs/compat.md C-SA-JWT). Pure: decoding and the
 * signature are the adapters' part. Two uses:
 * - `api`: the self-signed JWT Google's auth libraries send as the bearer token (header
 *   {"alg":"RS256","typ":"JWT","kid":KEY_ID}; iss = sub = client_email; aud
 *   "https://cloudiot.googleapis.com/", or, when the client was given its own endpoint, no aud
 *   and a scope claim instead; iat/exp one hour apart);
 * - `token-endpoint`: the assertion of the jwt-bearer grant (RFC 7523) Python's and Go's libraries
 *   post to token_uri: aud = token_uri and a scope, sub optional.
 */

export const SA_JWT_SKEW_S = 300;
export const SA_JWT_MAX_LIFETIME_S = 3600;
/** What the libraries put in "aud" for Cloud IoT (with the trailing slash); the bare host is accepted too. */
export const CLOUDIOT_AUDIENCES: readonly string[] = ['https://cloudiot.googleapis.com/', 'https://cloudiot.googleapis.com'];
/** Either scope gives access to Cloud IoT, as with Google. */
export const ACCEPTED_SCOPES: readonly string[] = ['https://www.googleapis.com/auth/cloud-platform', 'https://www.googleapis.com/auth/cloudiot'];

export type SaJwtFailure =
  | 'malformed'
  | 'alg-not-allowed'
  | 'claim-missing'
  | 'unknown-key'
  | 'key-disabled'
  | 'bad-signature'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'wrong-scope'
  | 'expired'
  | 'not-yet-valid'
  | 'lifetime-too-long';

export interface SaJwtRefusal {
  ok: false;
  failure: SaJwtFailure;
  message: string;
}

const refuse = (failure: SaJwtFailure, message: string): SaJwtRefusal => ({ ok: false, failure, message });

/** RS256 only: "none", HS256 (a public key used as an HMAC secret) and every other alg end here. */
export function checkHeader(header: unknown): { ok: true; kid: string } | SaJwtRefusal {
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return refuse('malformed', 'The JWT header is not a JSON object.');
  const h = header as Record<string, unknown>;
  if (h.alg !== 'RS256') {
    return refuse('alg-not-allowed', `JWT algorithm ${JSON.stringify(h.alg ?? null)} is not accepted: service-account JWTs must be signed with RS256.`);
  }
  if (h.typ !== undefined && h.typ !== 'JWT') return refuse('malformed', `The JWT header "typ" must be "JWT", got ${JSON.stringify(h.typ)}.`);
  if (typeof h.kid !== 'string' || h.kid === '') {
    return refuse('claim-missing', 'The JWT header lacks "kid" (the private_key_id of the service-account key file).');
  }
  return { ok: true, kid: h.kid };
}

export interface ClaimRules {
  mode: 'api' | 'token-endpoint';
  /** The e-mail of the service account that owns the signing key. */
  email: string;
  /** Accepted "aud" values: CLOUDIOT_AUDIENCES for `api`, the token URIs for `token-endpoint`. */
  audiences: readonly string[];
  nowS: number;
}

export function checkClaims(payload: unknown, rules: ClaimRules): { ok: true; expiresAtS: number } | SaJwtRefusal {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return refuse('malformed', 'The JWT payload is not a JSON object.');
  const p = payload as Record<string, unknown>;
  const missing = (claim: string, hint = ''): SaJwtRefusal => refuse('claim-missing', `The JWT lacks the "${claim}" claim${hint}.`);

  if (typeof p.iss !== 'string' || p.iss === '') return missing('iss', ' (the client_email of the key file)');
  if (rules.mode === 'api' && (typeof p.sub !== 'string' || p.sub === '')) return missing('sub', ' (the client_email of the key file)');
  if (p.iss !== rules.email) return refuse('wrong-issuer', 'The JWT issuer ("iss") is not the service account that owns the signing key.');
  if (p.sub !== undefined && p.sub !== p.iss) {
    return refuse('wrong-issuer', 'The JWT subject ("sub") must equal its issuer: acting for another account (domain-wide delegation) is not supported.');
  }

  const scopeOk = typeof p.scope === 'string' && p.scope.split(' ').some((s) => ACCEPTED_SCOPES.includes(s));
  const scopeRefusal = (): SaJwtRefusal =>
    p.scope === undefined
      ? missing('scope', ` (one of ${ACCEPTED_SCOPES.join(', ')})`)
      : refuse('wrong-scope', `The JWT "scope" grants no access to Cloud IoT; it must include ${ACCEPTED_SCOPES.join(' or ')}.`);
  const aud = Array.isArray(p.aud) && p.aud.length === 1 ? (p.aud[0] as unknown) : p.aud;
  if (rules.mode === 'token-endpoint') {
    if (aud === undefined) return missing('aud', ' (the token_uri of the key file)');
    if (typeof aud !== 'string' || !rules.audiences.includes(aud)) {
      return refuse('wrong-audience', `The JWT audience ${JSON.stringify(aud)} is not this token endpoint (the token_uri of the key file).`);
    }
    if (!scopeOk) return scopeRefusal();
  } else if (aud !== undefined) {
    if (typeof aud !== 'string' || !rules.audiences.includes(aud)) {
      return refuse('wrong-audience', `The JWT audience ${JSON.stringify(aud)} is not accepted; expected "${CLOUDIOT_AUDIENCES[0]}" (or no "aud" and a "scope" claim).`);
    }
  } else if (!scopeOk) {
    if (p.scope === undefined) return missing('aud', ` (or a "scope" claim listing ${ACCEPTED_SCOPES.join(' or ')})`);
    return scopeRefusal();
  }

  if (p.iat === undefined) return missing('iat');
  if (p.exp === undefined) return missing('exp');
  if (!isSeconds(p.iat) || !isSeconds(p.exp)) return refuse('malformed', 'The JWT "iat" and "exp" claims must be numbers of seconds since the epoch.');
  const iat = Math.floor(p.iat);
  const exp = Math.floor(p.exp);
  if (exp <= iat) return refuse('malformed', 'The JWT "exp" must come after its "iat".');
  if (iat > rules.nowS + SA_JWT_SKEW_S) {
    return refuse('not-yet-valid', `The JWT was issued in the future ("iat" is more than ${SA_JWT_SKEW_S} s ahead of the server clock).`);
  }
  if (exp <= rules.nowS - SA_JWT_SKEW_S) return refuse('expired', `The JWT expired at ${new Date(exp * 1000).toISOString()} (${SA_JWT_SKEW_S} s of clock skew allowed).`);
  if (exp - iat > SA_JWT_MAX_LIFETIME_S) {
    return refuse('lifetime-too-long', `The JWT lifetime ("exp" - "iat") is ${exp - iat} s; at most ${SA_JWT_MAX_LIFETIME_S} s are accepted.`);
  }
  return { ok: true, expiresAtS: exp };
}

const isSeconds = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
