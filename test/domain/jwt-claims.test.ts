import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkClaims, JWT_MAX_LIFETIME_S, JWT_SKEW_S } from '../../src/domain/jwt-claims.js';

/** Device JWT claim rules (spec §4.1, §4.2): aud, iat/exp with 10 minutes of skew, 24 h lifetime. */

const NOW = 1_700_000_000;
const AUD = 'my-project';

describe('checkClaims', () => {
  test('constants are the spec values', () => {
    assert.equal(JWT_SKEW_S, 600);
    assert.equal(JWT_MAX_LIFETIME_S, 86_400);
  });

  test('a fresh one-hour token passes and reports its exp', () => {
    assert.deepEqual(checkClaims({ aud: AUD, iat: NOW, exp: NOW + 3600 }, AUD, NOW), { ok: true, expiresAtS: NOW + 3600 });
  });

  test('numeric-string iat/exp (Google C sample) and fractional seconds are accepted', () => {
    assert.deepEqual(checkClaims({ aud: AUD, iat: String(NOW), exp: String(NOW + 60) }, AUD, NOW), { ok: true, expiresAtS: NOW + 60 });
    assert.deepEqual(checkClaims({ aud: AUD, iat: NOW + 0.7, exp: NOW + 60.9 }, AUD, NOW), { ok: true, expiresAtS: NOW + 60 });
  });

  test('aud: a single-element array is the same as the string; anything else is wrong-audience', () => {
    assert.equal(checkClaims({ aud: [AUD], iat: NOW, exp: NOW + 60 }, AUD, NOW).ok, true);
    for (const aud of ['other', '', undefined, [AUD, 'other'], [], 42, AUD.toUpperCase()]) {
      const r = checkClaims({ aud, iat: NOW, exp: NOW + 60 }, AUD, NOW);
      assert.equal(r.ok ? 'ok' : r.reason, 'wrong-audience', JSON.stringify(aud));
    }
  });

  test('iat: up to 600 s ahead passes, 601 s is issued-in-future', () => {
    assert.equal(checkClaims({ aud: AUD, iat: NOW + 600, exp: NOW + 3600 }, AUD, NOW).ok, true);
    const r = checkClaims({ aud: AUD, iat: NOW + 601, exp: NOW + 3600 }, AUD, NOW);
    assert.equal(r.ok ? 'ok' : r.reason, 'issued-in-future');
  });

  test('exp: up to 599 s past passes, 600 s past is expired', () => {
    assert.deepEqual(checkClaims({ aud: AUD, iat: NOW - 3600, exp: NOW - 599 }, AUD, NOW), { ok: true, expiresAtS: NOW - 599 });
    const r = checkClaims({ aud: AUD, iat: NOW - 3600, exp: NOW - 600 }, AUD, NOW);
    assert.equal(r.ok ? 'ok' : r.reason, 'expired');
  });

  test('lifetime: 24 h + 600 s passes, one second more is lifetime-too-long', () => {
    assert.equal(checkClaims({ aud: AUD, iat: NOW, exp: NOW + 86_400 + 600 }, AUD, NOW).ok, true);
    const r = checkClaims({ aud: AUD, iat: NOW, exp: NOW + 86_400 + 601 }, AUD, NOW);
    assert.equal(r.ok ? 'ok' : r.reason, 'lifetime-too-long');
  });

  test('missing or non-numeric iat/exp, and non-object payloads, are malformed-claims', () => {
    const payloads: unknown[] = [
      null,
      'string',
      42,
      { aud: AUD, exp: NOW + 60 },
      { aud: AUD, iat: NOW },
      { aud: AUD, iat: 'soon', exp: NOW + 60 },
      { aud: AUD, iat: NOW, exp: '1e9' },
      { aud: AUD, iat: NOW, exp: '-5' },
      { aud: AUD, iat: NOW, exp: null },
      { aud: AUD, iat: Infinity, exp: NOW },
      { aud: AUD, iat: NOW, exp: true },
    ];
    for (const p of payloads) {
      const r = checkClaims(p, AUD, NOW);
      assert.equal(r.ok ? 'ok' : r.reason, 'malformed-claims', JSON.stringify(p));
    }
  });

  test('nbf and unknown claims are ignored', () => {
    assert.equal(checkClaims({ aud: AUD, iat: NOW, exp: NOW + 60, nbf: NOW + 10_000, sub: 'x', jti: 1 }, AUD, NOW).ok, true);
  });

  test('failures carry a human message', () => {
    const r = checkClaims({ aud: 'x', iat: NOW, exp: NOW + 60 }, AUD, NOW);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.message, /aud/);
  });
});
