import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { NodeServiceAccountCrypto } from '../../src/adapters/crypto/service-account-crypto.js';
import { LocalBus } from '../../src/adapters/bus/local-bus.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ApiError } from '../../src/domain/errors.js';
import type { ErrorReason } from '../../src/domain/error-reasons.js';
import type { ServiceAccountKey } from '../../src/domain/service-accounts.js';
import type { Store } from '../../src/services/ports.js';
import { DEFAULT_CREDENTIAL_LIMITS, ServiceAccountCredentials, type CredentialLimits } from '../../src/services/service-account-credentials.js';
import { apiClaims, hs256, rs256, rsaPair, SCOPES, unsigned, type RsaPair } from '../support/sa-jwt.js';

const T0 = Date.UTC(2030, 0, 1);
const NOW_S = T0 / 1000;
const A = 'robot-a1@proj.iam.gserviceaccount.com';
const B = 'robot-b1@proj.iam.gserviceaccount.com';
const KID_A = 'a'.repeat(40);
const KID_B = 'b'.repeat(40);
const TOKEN_URI = 'http://bridgehead.test:8080/token';

let pairA: RsaPair;
let pairB: RsaPair;
before(() => {
  pairA = rsaPair();
  pairB = rsaPair();
});

/** A store holding accounts A and B with one key each, counting key reads. */
async function world(limits: CredentialLimits = DEFAULT_CREDENTIAL_LIMITS) {
  const store = new MemoryStore();
  let keyReads = 0;
  let gate: Promise<void> | undefined;
  const counted: Pick<Store, 'getServiceAccountKey'> = {
    async getServiceAccountKey(keyId) {
      keyReads++;
      const key = await store.getServiceAccountKey(keyId);
      if (gate) await gate;
      return key;
    },
  };
  for (const [email, kid, pair] of [
    [A, KID_A, pairA],
    [B, KID_B, pairB],
  ] as const) {
    const accountId = email.split('@')[0]!;
    await store.createServiceAccount({ project: 'proj', accountId, email, uniqueId: `1${kid.charCodeAt(0)}`.padEnd(21, '0'), displayName: '', description: '', createTime: T0 }, []);
    const key: ServiceAccountKey = { keyId: kid, email, project: 'proj', publicKeyPem: pair.publicKeyPem, tokenUri: TOKEN_URI, createTime: T0, disabled: false };
    await store.createServiceAccountKey(key, 10);
  }
  const clock = { t: T0, now: () => clock.t };
  const credentials = new ServiceAccountCredentials(counted, new NodeServiceAccountCrypto(), clock, limits);
  return {
    store,
    clock,
    credentials,
    keyReads: () => keyReads,
    /** Holds every key read until the returned function is called. */
    holdKeyReads: (): (() => void) => {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

async function refusedWith(p: Promise<unknown>, reason: ErrorReason, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.kind, 'UNAUTHENTICATED');
    assert.equal(e.reason, reason, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

const tokenA = (over: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string =>
  rs256({ kid: KID_A, ...header }, apiClaims(A, NOW_S, over), pairA.privateKeyPem);

describe('ServiceAccountCredentials: self-signed JWTs (docs/compat.md C-SA-JWT)', () => {
  it('accepts both forms Google\'s libraries send and names the account', async () => {
    const { credentials } = await world();
    const principal = { kind: 'service-account', email: A, project: 'proj', keyId: KID_A };
    assert.deepEqual(await credentials.authenticateJwt(tokenA()), principal);
    assert.deepEqual(await credentials.authenticateJwt(tokenA({ aud: undefined, scope: SCOPES })), principal);
  });

  it('refuses alg none, HS256 keyed with the public key, and any alg but RS256', async () => {
    const { credentials } = await world();
    await refusedWith(credentials.authenticateJwt(unsigned({ kid: KID_A }, apiClaims(A, NOW_S))), 'JWT_ALG_NOT_ALLOWED', /"none"/);
    await refusedWith(credentials.authenticateJwt(hs256({ kid: KID_A }, apiClaims(A, NOW_S), pairA.publicKeyPem)), 'JWT_ALG_NOT_ALLOWED', /"HS256".*RS256/);
    // An RS256 signature relabelled RS512 must not pass either.
    await refusedWith(credentials.authenticateJwt(tokenA({}, { alg: 'RS512' })), 'JWT_ALG_NOT_ALLOWED');
  });

  it('refuses a key of another account: kid of A with iss B, and B\'s signature under A\'s kid', async () => {
    const { credentials } = await world();
    await refusedWith(credentials.authenticateJwt(rs256({ kid: KID_A }, apiClaims(B, NOW_S), pairA.privateKeyPem)), 'JWT_WRONG_ISSUER');
    await refusedWith(credentials.authenticateJwt(rs256({ kid: KID_A }, apiClaims(A, NOW_S), pairB.privateKeyPem)), 'JWT_BAD_SIGNATURE', new RegExp(KID_A));
  });

  it('refuses a tampered payload, unknown and missing kids, and text that is no JWT', async () => {
    const { credentials } = await world();
    const [h, , s] = tokenA().split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify(apiClaims(B, NOW_S))).toString('base64url')}.${s}`;
    await refusedWith(credentials.authenticateJwt(forged), 'JWT_BAD_SIGNATURE');
    await refusedWith(credentials.authenticateJwt(tokenA({}, { kid: 'c'.repeat(40) })), 'JWT_UNKNOWN_KEY', /never issued here, or it was deleted/);
    await refusedWith(credentials.authenticateJwt(rs256({}, apiClaims(A, NOW_S), pairA.privateKeyPem)), 'JWT_CLAIM_MISSING', /"kid"/);
    for (const junk of ['a.b.c', 'x'.repeat(20_000), `${h}.${Buffer.from('[1]').toString('base64url')}`, `${h}==.e30.${s}`]) {
      await refusedWith(credentials.authenticateJwt(junk), 'JWT_MALFORMED');
    }
  });

  it('refuses expired, future, over-long and audience-less tokens, naming the claim', async () => {
    const { credentials } = await world();
    await refusedWith(credentials.authenticateJwt(tokenA({ iat: NOW_S - 4000, exp: NOW_S - 400 })), 'JWT_EXPIRED');
    await refusedWith(credentials.authenticateJwt(tokenA({ iat: NOW_S + 600, exp: NOW_S + 1200 })), 'JWT_NOT_YET_VALID');
    await refusedWith(credentials.authenticateJwt(tokenA({ exp: NOW_S + 7200 })), 'JWT_LIFETIME_TOO_LONG');
    await refusedWith(credentials.authenticateJwt(tokenA({ aud: undefined })), 'JWT_CLAIM_MISSING', /"aud"/);
    await refusedWith(credentials.authenticateJwt(tokenA({ aud: TOKEN_URI })), 'JWT_WRONG_AUDIENCE');
    await refusedWith(credentials.authenticateJwt(tokenA({ sub: undefined })), 'JWT_CLAIM_MISSING', /"sub"/);
  });

  it('verifies a token once and then answers from the cache until it expires', async () => {
    const { credentials, clock, keyReads } = await world();
    const token = tokenA({ iat: NOW_S, exp: NOW_S + 600 });
    await credentials.authenticateJwt(token);
    await credentials.authenticateJwt(token);
    assert.equal(keyReads(), 1);
    clock.t = T0 + (600 + 300) * 1000 - 1;
    await credentials.authenticateJwt(token);
    assert.equal(keyReads(), 1, 'still inside exp + skew');
    clock.t = T0 + (600 + 300) * 1000;
    await refusedWith(credentials.authenticateJwt(token), 'JWT_EXPIRED');
  });

  it('oversized tokens are verified every time, never cached', async () => {
    const { credentials, keyReads } = await world();
    const padded = tokenA({ pad: 'x'.repeat(3000) });
    await credentials.authenticateJwt(padded);
    await credentials.authenticateJwt(padded);
    assert.equal(keyReads(), 2);
  });

  it('the cache is bounded: the oldest entry goes first', async () => {
    const { credentials, keyReads } = await world({ ...DEFAULT_CREDENTIAL_LIMITS, verifiedCacheSize: 2 });
    const tokens = [1, 2, 3].map((i) => tokenA({ jti: i }));
    for (const t of tokens) await credentials.authenticateJwt(t);
    assert.equal(keyReads(), 3);
    await credentials.authenticateJwt(tokens[2]!);
    await credentials.authenticateJwt(tokens[1]!);
    assert.equal(keyReads(), 3);
    await credentials.authenticateJwt(tokens[0]!);
    assert.equal(keyReads(), 4, 'the first token was evicted');
  });

  it('a replay after the key is disabled is refused at once, and accepted again once it is enabled', async () => {
    const { credentials, store } = await world();
    const token = tokenA();
    await credentials.authenticateJwt(token);
    await store.setServiceAccountKeyDisabled(KID_A, true);
    credentials.forgetKey(KID_A);
    await refusedWith(credentials.authenticateJwt(token), 'JWT_KEY_DISABLED');
    assert.deepEqual((await credentials.authenticateJwt(rs256({ kid: KID_B }, apiClaims(B, NOW_S), pairB.privateKeyPem))).email, B, 'other keys are unaffected');
    await store.setServiceAccountKeyDisabled(KID_A, false);
    assert.equal((await credentials.authenticateJwt(token)).email, A);
    await store.deleteServiceAccountKey(KID_A);
    credentials.forgetKey(KID_A);
    await refusedWith(credentials.authenticateJwt(token), 'JWT_UNKNOWN_KEY');
  });

  it('requireUsableKey reads the key from the store every time: disabled or deleted, it is refused even where no forgetKey arrived', async () => {
    const { credentials, store, keyReads } = await world();
    await credentials.requireUsableKey(KID_A);
    await credentials.requireUsableKey(KID_A);
    assert.equal(keyReads(), 2, 'not answered from a cache');
    await store.setServiceAccountKeyDisabled(KID_A, true);
    await refusedWith(credentials.requireUsableKey(KID_A), 'JWT_KEY_DISABLED', /is disabled/);
    await credentials.requireUsableKey(KID_B);
    await store.deleteServiceAccountKey(KID_A);
    await refusedWith(credentials.requireUsableKey(KID_A), 'JWT_UNKNOWN_KEY', /was deleted/);
  });

  it('a key disabled while a token is being verified with it: the token is refused, not cached', async () => {
    const { credentials, store, holdKeyReads } = await world();
    const release = holdKeyReads();
    const pending = credentials.authenticateJwt(tokenA());
    await store.setServiceAccountKeyDisabled(KID_A, true);
    credentials.forgetKey(KID_A);
    release();
    await refusedWith(pending, 'JWT_KEY_DISABLED');
    await store.setServiceAccountKeyDisabled(KID_A, false);
    assert.equal((await credentials.authenticateJwt(tokenA())).email, A);
  });

  it('follows revocations announced on the bus by other nodes', async () => {
    const { credentials, store } = await world();
    const bus = new LocalBus();
    const stop = credentials.follow(bus);
    const token = tokenA();
    await credentials.authenticateJwt(token);
    await store.setServiceAccountKeyDisabled(KID_A, true);
    const seen = new Promise<void>((resolve) => bus.subscribe(() => resolve()));
    await bus.publish({ type: 'service-account-key-revoked', keyId: KID_A });
    await seen;
    await refusedWith(credentials.authenticateJwt(token), 'JWT_KEY_DISABLED');
    stop();
    await bus.close();
  });

  it('after a gap in the bus (a revocation may have been missed) it reads keys again: JWTs and access tokens of a key disabled meanwhile are refused', async () => {
    const { credentials, store } = await world();
    const gaps: (() => void)[] = [];
    const stop = credentials.follow({
      subscribe: (_handler, onGap) => {
        if (onGap) gaps.push(onGap);
        return () => {};
      },
    });
    const jwt = tokenA();
    await credentials.authenticateJwt(jwt);
    const assertion = rs256({ kid: KID_A }, { iss: A, aud: TOKEN_URI, scope: SCOPES, iat: NOW_S, exp: NOW_S + 3600 }, pairA.privateKeyPem);
    const { accessToken } = await credentials.exchangeAssertion(assertion, []);
    const assertionB = rs256({ kid: KID_B }, { iss: B, aud: TOKEN_URI, scope: SCOPES, iat: NOW_S, exp: NOW_S + 3600 }, pairB.privateKeyPem);
    const { accessToken: tokenOfB } = await credentials.exchangeAssertion(assertionB, []);
    // Disabled on another node; its event was lost with the bus.
    await store.setServiceAccountKeyDisabled(KID_A, true);
    assert.equal((await credentials.authenticateJwt(jwt)).email, A, 'still cached: nothing told this node yet');
    assert.equal(gaps.length, 1);
    gaps[0]!();
    await credentials.recheckAfterGap();
    await refusedWith(credentials.authenticateJwt(jwt), 'JWT_KEY_DISABLED');
    assert.throws(() => credentials.authenticateAccessToken(accessToken), (e: unknown) => e instanceof ApiError && e.reason === 'ACCESS_TOKEN_REVOKED');
    assert.equal(credentials.authenticateAccessToken(tokenOfB)?.email, B, 'tokens of other keys still work');
    stop();
  });
});

describe('ServiceAccountCredentials: the token endpoint (docs/compat.md C-SA-TOKEN)', () => {
  /** As google-auth (Python) and golang.org/x/oauth2/google sign it: no sub. */
  const assertion = (over: Record<string, unknown> = {}, pair?: RsaPair): string =>
    rs256({ kid: KID_A }, { iss: A, aud: TOKEN_URI, scope: SCOPES, iat: NOW_S, exp: NOW_S + 3600, ...over }, (pair ?? pairA).privateKeyPem);

  it('exchanges an assertion for an opaque one-hour access token that authenticates as the account', async () => {
    const { credentials } = await world();
    const { accessToken, expiresInS } = await credentials.exchangeAssertion(assertion(), []);
    assert.equal(expiresInS, 3600);
    assert.match(accessToken, /^bh1\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(credentials.authenticateAccessToken(accessToken), { kind: 'service-account', email: A, project: 'proj', keyId: KID_A });
    assert.equal(credentials.authenticateAccessToken('bh1.unknown'), undefined);
    const second = await credentials.exchangeAssertion(assertion(), []);
    assert.notEqual(second.accessToken, accessToken);
  });

  it('the audience must be the key\'s token_uri or a URL the endpoint was reached at; scope is required', async () => {
    const { credentials } = await world();
    await refusedWith(credentials.exchangeAssertion(assertion({ aud: 'http://other:1/token' }), []), 'JWT_WRONG_AUDIENCE');
    await credentials.exchangeAssertion(assertion({ aud: 'http://other:1/token' }), ['http://other:1/token']);
    await refusedWith(credentials.exchangeAssertion(assertion({ scope: undefined }), []), 'JWT_CLAIM_MISSING', /"scope"/);
    await refusedWith(credentials.exchangeAssertion(assertion({ scope: 'email' }), []), 'JWT_WRONG_SCOPE');
    // A self-signed API JWT is no assertion, and the reverse.
    await refusedWith(credentials.exchangeAssertion(tokenA(), []), 'JWT_WRONG_AUDIENCE');
    await refusedWith(credentials.authenticateJwt(assertion({ sub: A })), 'JWT_WRONG_AUDIENCE');
    await refusedWith(credentials.exchangeAssertion(assertion({}, pairB), []), 'JWT_BAD_SIGNATURE');
    await refusedWith(credentials.exchangeAssertion(hs256({ kid: KID_A }, { iss: A, aud: TOKEN_URI, scope: SCOPES, iat: NOW_S, exp: NOW_S + 60 }, pairA.publicKeyPem), []), 'JWT_ALG_NOT_ALLOWED');
  });

  it('an access token expires after its hour and is revoked when its key is disabled', async () => {
    const { credentials, clock } = await world();
    const { accessToken } = await credentials.exchangeAssertion(assertion(), []);
    clock.t = T0 + 3600_000 - 1;
    assert.equal(credentials.authenticateAccessToken(accessToken)?.email, A);
    clock.t = T0 + 3600_000;
    assert.throws(() => credentials.authenticateAccessToken(accessToken), (e: unknown) => e instanceof ApiError && e.reason === 'ACCESS_TOKEN_EXPIRED');

    clock.t = T0;
    const fresh = await credentials.exchangeAssertion(assertion(), []);
    credentials.forgetKey(KID_A);
    assert.throws(() => credentials.authenticateAccessToken(fresh.accessToken), (e: unknown) => e instanceof ApiError && e.reason === 'ACCESS_TOKEN_REVOKED');
  });

  it('keeps at most maxAccessTokens, dropping expired ones first, then the oldest', async () => {
    const { credentials, clock } = await world({ ...DEFAULT_CREDENTIAL_LIMITS, maxAccessTokens: 2, accessTokenLifetimeMs: 1000 });
    const t1 = (await credentials.exchangeAssertion(assertion(), [])).accessToken;
    clock.t = T0 + 1000;
    const t2 = (await credentials.exchangeAssertion(assertion(), [])).accessToken;
    const t3 = (await credentials.exchangeAssertion(assertion(), [])).accessToken;
    assert.equal(credentials.authenticateAccessToken(t1), undefined, 'expired, so pruned');
    assert.equal(credentials.authenticateAccessToken(t2)?.email, A);
    const t4 = (await credentials.exchangeAssertion(assertion(), [])).accessToken;
    assert.equal(credentials.authenticateAccessToken(t2), undefined, 'the oldest live one made room');
    assert.equal(credentials.authenticateAccessToken(t3)?.email, A);
    assert.equal(credentials.authenticateAccessToken(t4)?.email, A);
  });
});
