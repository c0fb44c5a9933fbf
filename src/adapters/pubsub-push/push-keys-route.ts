import type { FastifyInstance } from 'fastify';
import type { JwkSet } from './push-token-signer.js';

/** Where Google publishes its token keys as a JWKS; a receiver points its verifier here instead. */
export const PUSH_KEYS_PATH = '/oauth2/v3/certs';

/**
 * `GET /oauth2/v3/certs`: the public key of push requests' tokens, without credentials (public
 * keys are public, and receivers fetch them unauthenticated). Served on the admin listener and on
 * the TLS API port, which is what receivers reach.
 */
export function registerPushKeysRoute(app: FastifyInstance, jwks: () => JwkSet): void {
  app.get(PUSH_KEYS_PATH, async (_request, reply) => {
    // Receivers cache keys; the key only changes when the operator replaces the file and restarts.
    void reply.header('cache-control', 'public, max-age=3600');
    return jwks();
  });
}
