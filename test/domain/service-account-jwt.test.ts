import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ACCEPTED_SCOPES,
  checkClaims,
  checkHeader,
  CLOUDIOT_AUDIENCES,
  SA_JWT_MAX_LIFETIME_S,
  SA_JWT_SKEW_S,
  type ClaimRules,
} from '../../src/domain/service-account-jwt.js';

const NOW = 1_700_000_000;
const SA = 'robot-01@proj.iam.gserviceaccount.com';
const TOKEN_URI = 'http://127.0.0.1:8080/token';
const API: ClaimRules = { mode: 'api', email: SA, audiences: CLOUDIOT_AUDIENCES, nowS: NOW };
const TOKEN: ClaimRules = { mode: 'token-endpoint', email: SA, audiences: [TOKEN_URI], nowS: NOW };
const SCOPE = 'https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/cloudiot';

/** What google-auth-library sends (captured from @google-cloud/iot with a key file). */
const selfSigned = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: SA,
  sub: SA,
  aud: 'https://cloudiot.googleapis.com/',
  iat: NOW,
  exp: NOW + 3600,
  ...over,
});
/** What google-auth (Python) and golang.org/x/oauth2/google post to token_uri. */
const assertion = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ iss: SA, aud: TOKEN_URI, scope: SCOPE, iat: NOW, exp: NOW + 3600, ...over });

const failure = (r: ReturnType<typeof checkClaims>): string => (r.ok ? 'ok' : r.failure);

describe('checkHeader', () => {
  test('RS256 with a kid passes (typ JWT or absent)', () => {
    assert.deepEqual(checkHeader({ alg: 'RS256', typ: 'JWT', kid: 'abc' }), { ok: true, kid: 'abc' });
    assert.deepEqual(checkHeader({ alg: 'RS256', kid: 'abc' }), { ok: true, kid: 'abc' });
  });

  test('every other alg is refused before any key is looked at: none, HS256, RS512, ES256, PS256', () => {
    for (const alg of ['none', 'None', 'HS256', 'RS512', 'ES256', 'PS256', 'rs256', undefined, 256]) {
      const r = checkHeader({ alg, kid: 'abc' });
      assert.equal(r.ok ? 'ok' : r.failure, 'alg-not-allowed', String(alg));
    }
  });

  test('a missing kid, a wrong typ or a non-object header is refused', () => {
    const f = (h: unknown): string => {
      const r = checkHeader(h);
      return r.ok ? 'ok' : r.failure;
    };
    assert.equal(f({ alg: 'RS256' }), 'claim-missing');
    assert.equal(f({ alg: 'RS256', kid: '' }), 'claim-missing');
    assert.equal(f({ alg: 'RS256', kid: 7 }), 'claim-missing');
    assert.equal(f({ alg: 'RS256', kid: 'a', typ: 'JWE' }), 'malformed');
    assert.equal(f(null), 'malformed');
    assert.equal(f(['RS256']), 'malformed');
  });
});

describe('checkClaims for API calls (self-signed JWTs)', () => {
  test('the two forms Google\'s libraries send pass: aud, or no aud and the scopes', () => {
    assert.deepEqual(checkClaims(selfSigned(), API), { ok: true, expiresAtS: NOW + 3600 });
    assert.deepEqual(checkClaims(selfSigned({ aud: undefined, scope: SCOPE }), API), { ok: true, expiresAtS: NOW + 3600 });
    for (const scope of ACCEPTED_SCOPES) assert.equal(failure(checkClaims(selfSigned({ aud: undefined, scope }), API)), 'ok', scope);
    assert.equal(failure(checkClaims(selfSigned({ aud: ['https://cloudiot.googleapis.com/'] }), API)), 'ok');
    assert.equal(failure(checkClaims(selfSigned({ aud: 'https://cloudiot.googleapis.com' }), API)), 'ok');
  });

  test('missing claims are named', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [selfSigned({ iss: undefined }), /"iss"/],
      [selfSigned({ sub: undefined }), /"sub"/],
      [selfSigned({ aud: undefined }), /"aud".*"scope"/],
      [selfSigned({ iat: undefined }), /"iat"/],
      [selfSigned({ exp: undefined }), /"exp"/],
    ];
    for (const [payload, message] of cases) {
      const r = checkClaims(payload, API);
      assert.equal(r.ok ? 'ok' : r.failure, 'claim-missing', JSON.stringify(payload));
      assert.match(r.ok ? '' : r.message, message);
    }
  });

  test('an issuer other than the key\'s account (a key of A claiming to be B) is refused, as is sub != iss', () => {
    assert.equal(failure(checkClaims(selfSigned({ iss: 'other-01@proj.iam.gserviceaccount.com', sub: 'other-01@proj.iam.gserviceaccount.com' }), API)), 'wrong-issuer');
    assert.equal(failure(checkClaims(selfSigned({ sub: 'admin@example.com' }), API)), 'wrong-issuer');
  });

  test('a wrong audience or scope is refused', () => {
    for (const aud of ['https://pubsub.googleapis.com/', 'https://cloudiot.googleapis.com/v1/', '', 42, ['https://cloudiot.googleapis.com/', 'x']]) {
      assert.equal(failure(checkClaims(selfSigned({ aud }), API)), 'wrong-audience', JSON.stringify(aud));
    }
    assert.equal(failure(checkClaims(selfSigned({ aud: undefined, scope: 'https://www.googleapis.com/auth/pubsub' }), API)), 'wrong-scope');
    assert.equal(failure(checkClaims(selfSigned({ aud: undefined, scope: 42 }), API)), 'wrong-scope');
  });

  test('time: skew of 5 minutes either way, at most one hour of lifetime', () => {
    assert.equal(SA_JWT_SKEW_S, 300);
    assert.equal(SA_JWT_MAX_LIFETIME_S, 3600);
    assert.equal(failure(checkClaims(selfSigned({ iat: NOW + 300, exp: NOW + 3900 }), API)), 'ok');
    assert.equal(failure(checkClaims(selfSigned({ iat: NOW + 301, exp: NOW + 3901 }), API)), 'not-yet-valid');
    assert.equal(failure(checkClaims(selfSigned({ iat: NOW - 3600, exp: NOW - 299 }), API)), 'ok');
    assert.equal(failure(checkClaims(selfSigned({ iat: NOW - 3600, exp: NOW - 300 }), API)), 'expired');
    assert.equal(failure(checkClaims(selfSigned({ exp: NOW + 3601 }), API)), 'lifetime-too-long');
    assert.equal(failure(checkClaims(selfSigned({ exp: NOW }), API)), 'malformed', 'exp not after iat');
    assert.equal(failure(checkClaims(selfSigned({ iat: '1700000000' }), API)), 'malformed');
    assert.equal(failure(checkClaims(selfSigned({ exp: Infinity }), API)), 'malformed');
  });

  test('a payload that is not an object is malformed', () => {
    for (const p of [null, 'x', 3, [selfSigned()]]) assert.equal(failure(checkClaims(p, API)), 'malformed');
  });
});

describe('checkClaims for the token endpoint (jwt-bearer assertions)', () => {
  test('Python\'s and Go\'s assertion passes without sub; with sub it must be the issuer', () => {
    assert.deepEqual(checkClaims(assertion(), TOKEN), { ok: true, expiresAtS: NOW + 3600 });
    assert.equal(failure(checkClaims(assertion({ sub: SA }), TOKEN)), 'ok');
    assert.equal(failure(checkClaims(assertion({ sub: 'someone@example.com' }), TOKEN)), 'wrong-issuer');
  });

  test('aud must be the token URI and scope is required', () => {
    assert.equal(failure(checkClaims(assertion({ aud: undefined }), TOKEN)), 'claim-missing');
    assert.equal(failure(checkClaims(assertion({ aud: 'https://oauth2.googleapis.com/token' }), TOKEN)), 'wrong-audience');
    assert.equal(failure(checkClaims(assertion({ aud: 'https://cloudiot.googleapis.com/' }), TOKEN)), 'wrong-audience', 'a self-signed API JWT is no assertion');
    assert.equal(failure(checkClaims(assertion({ scope: undefined }), TOKEN)), 'claim-missing');
    assert.equal(failure(checkClaims(assertion({ scope: 'email' }), TOKEN)), 'wrong-scope');
  });

  test('an API JWT\'s audience is not accepted at the token endpoint, nor the token URI at the API', () => {
    assert.equal(failure(checkClaims(assertion({ sub: SA }), API)), 'wrong-audience');
  });
});
