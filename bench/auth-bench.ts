import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeServiceAccountCrypto } from '../src/adapters/crypto/service-account-crypto.js';
import { SqliteStore } from '../src/adapters/store/sqlite/sqlite-store.js';
import { ApiAuth } from '../src/services/api-auth.js';
import { ServiceAccountCredentials } from '../src/services/service-account-credentials.js';
import { rs256 } from '../test/support/sa-jwt.js';
import { fmtCount, now, percentile, table, type BenchSection } from './lib.js';

/**
 * What a service-account credential costs the API per request (docs/compat.md C-SA-JWT), in
 * process over the SQLite store the server uses: a self-signed JWT seen for the first time
 * (decode, key read, RSA-2048 verification, claim checks), the same JWT again (the cache of
 * verified tokens), and a whole authentication plus the IAM check of one call (two policy reads).
 * Tokens are signed beforehand; only verification is timed.
 */

const TOKENS = 2_000;
const ROUNDS = 5;
const EMAIL = 'bench-sa1@bench.iam.gserviceaccount.com';
const REGISTRY = 'projects/bench/locations/us-central1/registries/bench-registry';

/** Per-operation microseconds of `op` over `items`, sequentially (one core, as the event loop runs them). */
async function timeEach<T>(items: readonly T[], op: (item: T) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (const item of items) {
    const t0 = now();
    await op(item);
    out.push((now() - t0) * 1000);
  }
  return out;
}

const us = (v: number): string => (v < 10 ? v.toFixed(2) : v.toFixed(1));
const row = (label: string, sample: readonly number[]): string[] => {
  const mean = sample.reduce((a, b) => a + b, 0) / sample.length;
  return [label, fmtCount(sample.length), us(mean), us(percentile(sample, 50)), us(percentile(sample, 99))];
};

export const authBench: BenchSection = {
  name: 'auth',
  summary: `verify ${fmtCount(TOKENS)} service-account JWTs uncached, then cached; authentication + IAM check per call`,
  // In process: the started server is not used, so its memory says nothing about this section.
  ownServers: true,
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'bridgehead-auth-bench-'));
    const store = SqliteStore.open(join(dir, 'registry.db'));
    try {
      const crypto = new NodeServiceAccountCrypto();
      const clock = { now: () => Date.now() };
      await store.createServiceAccount(
        { project: 'bench', accountId: 'bench-sa1', email: EMAIL, uniqueId: crypto.randomDigits(21), displayName: '', description: '', createTime: clock.now() },
        ['roles/cloudiot.viewer'],
      );
      const pair = await crypto.newRsaKeyPair();
      const keyId = crypto.randomHex(20);
      await store.createServiceAccountKey(
        { keyId, email: EMAIL, project: 'bench', publicKeyPem: pair.publicKeyPem, tokenUri: 'http://127.0.0.1/token', createTime: clock.now(), disabled: false },
        10,
      );
      const nowS = Math.floor(clock.now() / 1000);
      // Distinct tokens (a jti each), as many clients, or one client over many hours, would send.
      const tokens = Array.from({ length: TOKENS }, (_, i) =>
        rs256({ kid: keyId }, { iss: EMAIL, sub: EMAIL, aud: 'https://cloudiot.googleapis.com/', iat: nowS, exp: nowS + 3600, jti: i }, pair.privateKeyPem),
      );

      const uncached: number[] = [];
      const cached: number[] = [];
      const endToEnd: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        ctx.signal.throwIfAborted();
        // A fresh credentials object per round: every token is new to it, then seen again.
        const credentials = new ServiceAccountCredentials(store, crypto, clock);
        const auth = new ApiAuth('bench-admin-token-0123456789', { credentials, policies: store });
        uncached.push(...(await timeEach(tokens, (t) => credentials.authenticateJwt(t))));
        cached.push(...(await timeEach(tokens, (t) => credentials.authenticateJwt(t))));
        endToEnd.push(
          ...(await timeEach(tokens, async (t) => {
            const caller = await auth.authenticate(`Bearer ${t}`);
            await auth.authorize(caller, 'cloudiot.devices.list', REGISTRY);
          })),
        );
      }
      const mean = (s: number[]): number => s.reduce((a, b) => a + b, 0) / s.length;
      for (const line of table(
        ['service-account JWT', 'calls', 'mean µs', 'p50 µs', 'p99 µs'],
        [
          row('uncached verification', uncached),
          row('cached (same token again)', cached),
          row('cached + IAM check (2 policy reads)', endToEnd),
        ],
      )) {
        ctx.print(`  ${line}`);
      }
      ctx.print(`  the cache saves ${us(mean(uncached) - mean(cached))} µs per request (${(mean(uncached) / mean(cached)).toFixed(0)}× faster)`);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
