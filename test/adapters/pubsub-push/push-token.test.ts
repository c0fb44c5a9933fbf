import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Fastify from 'fastify';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { PUSH_KEYS_PATH, registerPushKeysRoute } from '../../../src/adapters/pubsub-push/push-keys-route.js';
import { pushTokenClaims } from '../../../src/adapters/pubsub-push/push-token-claims.js';
import { PUSH_SIGNING_KEY_FILE, PushTokenSigner } from '../../../src/adapters/pubsub-push/push-token-signer.js';

const dir = mkdtempSync(join(tmpdir(), 'bridgehead-push-key-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('pushTokenClaims: Google-shaped claims valid for one hour from now', () => {
  assert.deepEqual(pushTokenClaims({ issuer: 'https://accounts.google.com', audience: 'https://rx.example/push', email: 'pusher@p.iam.gserviceaccount.com', nowMs: 1_700_000_000_900 }), {
    iss: 'https://accounts.google.com',
    aud: 'https://rx.example/push',
    azp: 'pusher@p.iam.gserviceaccount.com',
    email: 'pusher@p.iam.gserviceaccount.com',
    email_verified: true,
    sub: 'pusher@p.iam.gserviceaccount.com',
    iat: 1_700_000_000,
    exp: 1_700_003_600,
  });
});

describe('PushTokenSigner', () => {
  test('generates a private 0600 key once and keeps it across restarts', async () => {
    const a = await PushTokenSigner.open(dir, 'https://accounts.google.com');
    const file = join(dir, PUSH_SIGNING_KEY_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const pem = readFileSync(file, 'utf8');
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
    const b = await PushTokenSigner.open(dir, 'https://accounts.google.com');
    assert.deepEqual(b.jwks(), a.jwks());
    assert.equal(readFileSync(file, 'utf8'), pem);
  });

  test('tokens verify against the JWKS with the audience and issuer asked for; a wrong audience fails', async () => {
    const signer = await PushTokenSigner.open(dir, 'https://iot.example.com');
    const now = Date.now();
    const token = await signer.token('https://rx.example/push', 'pusher@p.iam.gserviceaccount.com', now);
    assert.equal(decodeProtectedHeader(token).kid, signer.jwks().keys[0]!.kid);
    const jwks = createLocalJWKSet(signer.jwks());
    const { payload } = await jwtVerify(token, jwks, { issuer: 'https://iot.example.com', audience: 'https://rx.example/push', algorithms: ['RS256'] });
    assert.equal(payload.email, 'pusher@p.iam.gserviceaccount.com');
    assert.equal(payload.exp! - payload.iat!, 3600);
    await assert.rejects(jwtVerify(token, jwks, { audience: 'https://other.example/' }), /aud/);
    // Reused while fresh, not once it is close to expiry.
    assert.equal(await signer.token('https://rx.example/push', 'pusher@p.iam.gserviceaccount.com', now + 60_000), token);
    assert.notEqual(await signer.token('https://rx.example/push', 'pusher@p.iam.gserviceaccount.com', now + 3_400_000), token);
  });

  test(`the JWKS is served without credentials at ${PUSH_KEYS_PATH}, and a receiver verifies with it`, async () => {
    const signer = await PushTokenSigner.open(dir, 'https://accounts.google.com');
    const app = Fastify();
    registerPushKeysRoute(app, () => signer.jwks());
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const res = await fetch(`${base}${PUSH_KEYS_PATH}`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { keys: { kty: string; alg: string; use: string; d?: string }[] };
      assert.equal(body.keys.length, 1);
      assert.deepEqual([body.keys[0]!.kty, body.keys[0]!.alg, body.keys[0]!.use, body.keys[0]!.d], ['RSA', 'RS256', 'sig', undefined]);
      const token = await signer.token('aud-1', 'sa@p.iam.gserviceaccount.com', Date.now());
      const { payload } = await jwtVerify(token, createRemoteJWKSet(new URL(`${base}${PUSH_KEYS_PATH}`)), { audience: 'aud-1', issuer: 'https://accounts.google.com' });
      assert.equal(payload.sub, 'sa@p.iam.gserviceaccount.com');
    } finally {
      await app.close();
    }
  });
});
