import { ApiError } from '../domain/errors.js';
import type { ErrorReason } from '../domain/error-reasons.js';
import { checkClaims, checkHeader, CLOUDIOT_AUDIENCES, SA_JWT_SKEW_S, type SaJwtFailure, type SaJwtRefusal } from '../domain/service-account-jwt.js';
import type { ServiceAccountKey } from '../domain/service-accounts.js';
import type { Bus, Clock, ServiceAccountCrypto, Store } from './ports.js';

/** A caller authenticated with a service-account credential. */
export interface ServiceAccountPrincipal {
  kind: 'service-account';
  email: string;
  project: string;
  /** The key the credential was issued for or signed with (absent: a principal made by hand, in tests). */
  keyId?: string;
}

export interface CredentialLimits {
  /** Verified self-signed JWTs remembered, so that a client reusing its token (for up to an hour) is not re-verified. */
  verifiedCacheSize: number;
  accessTokenLifetimeMs: number;
  /** Live (and revoked, until they expire) access tokens kept; beyond it the oldest go first. */
  maxAccessTokens: number;
}

export const DEFAULT_CREDENTIAL_LIMITS: Readonly<CredentialLimits> = Object.freeze({
  verifiedCacheSize: 10_000,
  accessTokenLifetimeMs: 3600_000,
  maxAccessTokens: 100_000,
});

/**
 * Only tokens up to this size are remembered: Google's are under 1 KiB, and the cache must stay
 * small (10,000 entries × 2 KiB) even when a key holder pads its tokens.
 */
const MAX_CACHED_TOKEN_CHARS = 2048;

/** Access tokens are opaque; the prefix only tells them apart from JWTs and admin tokens in logs. */
const ACCESS_TOKEN_PREFIX = 'bh1.';

const REASONS: Readonly<Record<SaJwtFailure, ErrorReason>> = {
  malformed: 'JWT_MALFORMED',
  'alg-not-allowed': 'JWT_ALG_NOT_ALLOWED',
  'claim-missing': 'JWT_CLAIM_MISSING',
  'unknown-key': 'JWT_UNKNOWN_KEY',
  'key-disabled': 'JWT_KEY_DISABLED',
  'bad-signature': 'JWT_BAD_SIGNATURE',
  'wrong-issuer': 'JWT_WRONG_ISSUER',
  'wrong-audience': 'JWT_WRONG_AUDIENCE',
  'wrong-scope': 'JWT_WRONG_SCOPE',
  expired: 'JWT_EXPIRED',
  'not-yet-valid': 'JWT_NOT_YET_VALID',
  'lifetime-too-long': 'JWT_LIFETIME_TOO_LONG',
};

const unauthenticated = (reason: ErrorReason, message: string): ApiError => new ApiError('UNAUTHENTICATED', message, { reason });
const refused = (r: SaJwtRefusal): ApiError => unauthenticated(REASONS[r.failure], r.message);
/** Text from a caller, quoted and cut short, for an error message. */
const quote = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

interface Remembered {
  principal: ServiceAccountPrincipal;
  keyId: string;
  expiresAtMs: number;
  revoked: boolean;
}

/**
 * Service-account credentials (docs/compat.md C-SA-JWT, C-SA-TOKEN): self-signed JWTs verified
 * against the stored public key, and the short-lived access tokens the token endpoint exchanges
 * jwt-bearer assertions for. Both stop working when their key is disabled or deleted: `forgetKey`
 * drops what was verified with it and revokes its tokens.
 */
export class ServiceAccountCredentials {
  private readonly verified = new Map<string, Remembered>();
  /** In issue order, which is also expiry order: expired ones are always at the front. */
  private readonly tokens = new Map<string, Remembered>();
  /** Bumped by every forgetKey: a verification that spanned one re-checks its key before it counts. */
  private epoch = 0;

  constructor(
    private readonly store: Pick<Store, 'getServiceAccountKey'>,
    private readonly crypto: Pick<ServiceAccountCrypto, 'decodeJwt' | 'verifyRs256' | 'randomToken'>,
    private readonly clock: Clock,
    private readonly limits: CredentialLimits = DEFAULT_CREDENTIAL_LIMITS,
  ) {}

  /** A self-signed JWT sent as the bearer token; UNAUTHENTICATED naming why not. */
  async authenticateJwt(token: string): Promise<ServiceAccountPrincipal> {
    const now = this.clock.now();
    const hit = this.verified.get(token);
    if (hit && now < hit.expiresAtMs) return hit.principal;
    if (hit) this.verified.delete(token);
    const epoch = this.epoch;
    const { key, expiresAtS } = await this.verify(token, 'api', CLOUDIOT_AUDIENCES, now);
    const principal = principalOf(key);
    if (epoch === this.epoch && token.length <= MAX_CACHED_TOKEN_CHARS) {
      if (this.verified.size >= this.limits.verifiedCacheSize) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, { principal, keyId: key.keyId, expiresAtMs: (expiresAtS + SA_JWT_SKEW_S) * 1000, revoked: false });
    } else if (epoch !== this.epoch) {
      await this.recheck(key);
    }
    return principal;
  }

  /**
   * The jwt-bearer grant (RFC 7523): verifies the assertion, whose audience must be the key's
   * token_uri or one of `tokenUris` (the URLs this endpoint was reached at), and issues an access
   * token.
   */
  async exchangeAssertion(assertion: string, tokenUris: readonly string[]): Promise<{ accessToken: string; expiresInS: number }> {
    const now = this.clock.now();
    const epoch = this.epoch;
    const { key } = await this.verify(assertion, 'token-endpoint', tokenUris, now);
    if (epoch !== this.epoch) await this.recheck(key);
    const accessToken = `${ACCESS_TOKEN_PREFIX}${this.crypto.randomToken()}`;
    this.pruneTokens(now);
    this.tokens.set(accessToken, { principal: principalOf(key), keyId: key.keyId, expiresAtMs: now + this.limits.accessTokenLifetimeMs, revoked: false });
    return { accessToken, expiresInS: Math.floor(this.limits.accessTokenLifetimeMs / 1000) };
  }

  /** The principal of an access token this node issued; undefined for a token it does not know. */
  authenticateAccessToken(token: string): ServiceAccountPrincipal | undefined {
    const entry = this.tokens.get(token);
    if (!entry) return undefined;
    if (entry.revoked) {
      throw unauthenticated('ACCESS_TOKEN_REVOKED', 'The access token was revoked: the service-account key it was issued for has been disabled or deleted.');
    }
    if (this.clock.now() >= entry.expiresAtMs) {
      this.tokens.delete(token);
      throw unauthenticated('ACCESS_TOKEN_EXPIRED', 'The access token has expired; exchange the key for a new one at its token_uri.');
    }
    return entry.principal;
  }

  /** The key was disabled or deleted: nothing verified with it, and no token issued for it, is accepted from now on. */
  forgetKey(keyId: string): void {
    this.epoch++;
    for (const [token, entry] of this.verified) if (entry.keyId === keyId) this.verified.delete(token);
    for (const entry of this.tokens.values()) if (entry.keyId === keyId) entry.revoked = true;
  }

  /**
   * Follows keys revoked on other nodes; returns the unsubscribe function. After a gap in the bus,
   * a revocation may have been missed: what was verified is dropped (verified again on next use),
   * and the keys of the access tokens issued here are read again.
   */
  follow(bus: Pick<Bus, 'subscribe'>, onError: (err: unknown) => void = () => {}): () => void {
    return bus.subscribe(
      (e) => {
        if (e.type === 'service-account-key-revoked') this.forgetKey(e.keyId);
      },
      () => this.recheckAfterGap().catch(onError),
    );
  }

  /** Public for tests: what `follow` does after a gap in the bus. */
  async recheckAfterGap(): Promise<void> {
    this.epoch++;
    this.verified.clear();
    const keyIds = new Set<string>();
    for (const entry of this.tokens.values()) if (!entry.revoked) keyIds.add(entry.keyId);
    for (const keyId of keyIds) {
      const key = await this.store.getServiceAccountKey(keyId);
      if (!key || key.disabled) this.forgetKey(keyId);
    }
  }

  private async verify(
    token: string,
    mode: 'api' | 'token-endpoint',
    audiences: readonly string[],
    nowMs: number,
  ): Promise<{ key: ServiceAccountKey; expiresAtS: number }> {
    const jwt = this.crypto.decodeJwt(token);
    if (!jwt) throw unauthenticated('JWT_MALFORMED', 'The credential is not a JWT (three base64url segments of JSON, at most 16 KiB).');
    const header = checkHeader(jwt.header);
    if (!header.ok) throw refused(header);
    const key = await this.store.getServiceAccountKey(header.kid);
    if (!key) throw unauthenticated('JWT_UNKNOWN_KEY', `No service-account key has the ID ${quote(header.kid)} (the JWT's "kid"): it was never issued here, or it was deleted.`);
    if (key.disabled) throw unauthenticated('JWT_KEY_DISABLED', `Service-account key ${quote(key.keyId)} is disabled.`);
    if (!this.crypto.verifyRs256(jwt, key.publicKeyPem)) {
      throw unauthenticated('JWT_BAD_SIGNATURE', `The JWT signature does not verify with service-account key ${quote(key.keyId)}.`);
    }
    const claims = checkClaims(jwt.payload, {
      mode,
      email: key.email,
      audiences: mode === 'api' ? audiences : [key.tokenUri, ...audiences],
      nowS: Math.floor(nowMs / 1000),
    });
    if (!claims.ok) throw refused(claims);
    return { key, expiresAtS: claims.expiresAtS };
  }

  /** A forgetKey ran while `key` was being checked: it must still be there, and enabled. */
  private recheck(key: ServiceAccountKey): Promise<void> {
    return this.requireUsableKey(key.keyId);
  }

  /**
   * UNAUTHENTICATED unless the key is still there and enabled, read from the store (so a key
   * revoked on another node counts at once): what a long-lived call, authenticated once, is held to.
   */
  async requireUsableKey(keyId: string): Promise<void> {
    const now = await this.store.getServiceAccountKey(keyId);
    if (!now) throw unauthenticated('JWT_UNKNOWN_KEY', `Service-account key ${quote(keyId)} was deleted.`);
    if (now.disabled) throw unauthenticated('JWT_KEY_DISABLED', `Service-account key ${quote(keyId)} is disabled.`);
  }

  private pruneTokens(now: number): void {
    for (const [token, entry] of this.tokens) {
      if (entry.expiresAtMs > now && this.tokens.size < this.limits.maxAccessTokens) break;
      this.tokens.delete(token);
    }
  }
}

const principalOf = (key: ServiceAccountKey): ServiceAccountPrincipal => ({ kind: 'service-account', email: key.email, project: key.project, keyId: key.keyId });
