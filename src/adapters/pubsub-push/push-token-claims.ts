/** How long a push request's token is valid, as Google's are. */
export const PUSH_TOKEN_LIFETIME_S = 3600;

export interface PushTokenClaims {
  iss: string;
  aud: string;
  azp: string;
  email: string;
  email_verified: true;
  sub: string;
  iat: number;
  exp: number;
}

/**
 * The claims of the OIDC-style token a push request carries when its push config has an
 * oidcToken (docs/compat.md C-PS-PUSH-TOKEN): Google's claim set, `sub` and `azp` being the
 * service account's email as Bridgehead knows no numeric account IDs.
 */
export function pushTokenClaims(opts: { issuer: string; audience: string; email: string; nowMs: number }): PushTokenClaims {
  const iat = Math.floor(opts.nowMs / 1000);
  return {
    iss: opts.issuer,
    aud: opts.audience,
    azp: opts.email,
    email: opts.email,
    email_verified: true,
    sub: opts.email,
    iat,
    exp: iat + PUSH_TOKEN_LIFETIME_S,
  };
}
