import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_KINDS } from '../../domain/errors.js';
import type { ServiceAccountCredentials } from '../../services/service-account-credentials.js';
import { REASON_HEADER, toApiError } from './error-response.js';

/**
 * The OAuth 2.0 token endpoint a Bridgehead key file names as token_uri (docs/compat.md
 * C-SA-TOKEN): `POST /token` with the jwt-bearer grant (RFC 7523), as Python's google-auth and
 * Go's golang.org/x/oauth2/google post it:
 *
 *   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT, aud = token_uri>
 *   -> 200 {"access_token": "...", "expires_in": 3600, "token_type": "Bearer"}
 *   -> 400 {"error": "invalid_grant", "error_description": "<why>"} (RFC 6749 §5.2)
 *
 * The body may be form-encoded or JSON, as Google's endpoint accepts both.
 */

export const TOKEN_PATH = '/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export interface TokenRouteOptions {
  credentials: Pick<ServiceAccountCredentials, 'exchangeAssertion'>;
  /** The configured token URI, accepted as an assertion's audience besides the URL the request reached. */
  tokenUri: string | undefined;
}

export function registerTokenRoute(app: FastifyInstance, opts: TokenRouteOptions): void {
  app.post(TOKEN_PATH, async (request, reply) => {
    const params = formOf(request);
    if (!params) return oauthError(reply, 400, 'invalid_request', 'The body must be application/x-www-form-urlencoded (or JSON) parameters.');
    const grantType = params.get('grant_type');
    if (!grantType) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter: grant_type.');
    if (grantType !== JWT_BEARER) return oauthError(reply, 400, 'unsupported_grant_type', `Only the ${JWT_BEARER} grant is supported.`);
    const assertion = params.get('assertion');
    if (!assertion) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter: assertion.');
    const reached = `${request.protocol}://${request.host}${TOKEN_PATH}`;
    try {
      const { accessToken, expiresInS } = await opts.credentials.exchangeAssertion(assertion, opts.tokenUri ? [opts.tokenUri, reached] : [reached]);
      void reply.header('cache-control', 'no-store').header('pragma', 'no-cache').header('content-type', 'application/json; charset=utf-8');
      return { access_token: accessToken, expires_in: expiresInS, token_type: 'Bearer' };
    } catch (e) {
      const err = toApiError(e);
      if (err.kind === 'UNAUTHENTICATED') {
        void reply.header(REASON_HEADER, err.reason);
        return oauthError(reply, 400, err.reason === 'JWT_WRONG_SCOPE' ? 'invalid_scope' : 'invalid_grant', err.message);
      }
      if (err.kind === 'INTERNAL') request.log.error({ err: e }, 'internal error at the token endpoint');
      void reply.header(REASON_HEADER, err.reason);
      const status = ERROR_KINDS[err.kind].http;
      return oauthError(reply, status, status >= 500 ? 'temporarily_unavailable' : 'invalid_request', err.message);
    }
  });
}

/** The request's parameters, from the raw body the API server's parser leaves for this route. */
function formOf(request: FastifyRequest): URLSearchParams | undefined {
  const body = request.body;
  const text = typeof body === 'string' ? body : '';
  const type = String(request.headers['content-type'] ?? '').toLowerCase();
  if (!type.startsWith('application/json')) return new URLSearchParams(text);
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
    const out = new URLSearchParams();
    for (const [k, v] of Object.entries(doc)) if (typeof v === 'string') out.set(k, v);
    return out;
  } catch {
    return undefined;
  }
}

function oauthError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('content-type', 'application/json; charset=utf-8')
    .send({ error, error_description: description });
}
