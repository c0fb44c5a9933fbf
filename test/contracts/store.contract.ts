import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { EMPTY_POLICY } from '../../src/domain/iam-policy.js';
import type { IamPolicy, Registry } from '../../src/domain/model.js';
import type { Store } from '../../src/services/ports.js';
import { bindingContract } from './store-bindings.contract.js';
import { concurrencyContract } from './store-concurrency.contract.js';
import { deviceContract } from './store-devices.contract.js';
import {
  bytesOf,
  makeDevice,
  makeRegistry,
  pad,
  policy,
  regKey,
  rejectsWith,
  scrambled,
  T0,
  type ContractContext,
  type StoreUnderTest,
} from './store-fixtures.js';
import { historyContract } from './store-history.contract.js';
import { iamContract } from './store-iam.contract.js';
import { importContract } from './store-import.contract.js';

export type { StoreUnderTest } from './store-fixtures.js';

/**
 * The Store port contract: every implementation must pass all of it, so the services can be tested
 * against the memory store and run on SQLite with the same behaviour.
 */
export function storeContract(name: string, make: () => Promise<StoreUnderTest>): void {
  // Async so that one probe of the factory can decide which suites exist: the persistence tests
  // are registered only for stores whose factory provides `reopen`, rather than skipped at run time.
  describe(`Store contract: ${name}`, async () => {
    const probe = await make();
    const persistent = probe.reopen !== undefined;
    await probe.store.close();

    const opened: Store[] = [];
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });
    const ctx: ContractContext = {
      async freshWithReopen() {
        const handle = await make();
        opened.push(handle.store);
        if (!handle.reopen) return handle;
        const reopen = handle.reopen;
        return {
          store: handle.store,
          reopen: async () => {
            const s = await reopen();
            opened.push(s);
            return s;
          },
        };
      },
      async fresh() {
        return (await ctx.freshWithReopen()).store;
      },
    };

    registryContract(ctx);
    deviceContract(ctx);
    historyContract(ctx);
    bindingContract(ctx, { persistent });
    concurrencyContract(ctx);
    iamContract(ctx, { persistent });
    importContract(ctx);
  });
}

function registryContract({ fresh }: ContractContext): void {
  describe('registries', () => {
    it('create then get returns an equal copy that callers cannot alias', async () => {
      const store = await fresh();
      const k = regKey();
      const full = (): Registry =>
        makeRegistry(k, {
          stateNotificationConfig: { pubsubTopicName: 'projects/proj/topics/state' },
          mqttEnabledState: 'MQTT_DISABLED',
          credentials: [
            {
              format: 'X509_CERTIFICATE_PEM',
              certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
              x509Details: {
                issuer: 'CN=ca',
                subject: 'CN=ca',
                startTime: T0,
                expiryTime: T0 + 86_400_000,
                signatureAlgorithm: 'SHA256WithRSAEncryption',
                publicKeyType: 'RSA',
              },
            },
          ],
        });
      const input = full();
      await store.createRegistry(input);
      input.eventNotificationConfigs.push({ pubsubTopicName: 'x', subfolderMatches: 'y' });
      input.logLevel = 'DEBUG';
      const got = await store.getRegistry(k);
      assert.deepEqual(got, full());
      got?.credentials.pop();
      if (got) got.logLevel = 'ERROR';
      assert.deepEqual(await store.getRegistry(k), full());
    });

    it('keeps unset optional fields undefined (not null, not missing)', async () => {
      const store = await fresh();
      await store.createRegistry(makeRegistry(regKey()));
      const got = await store.getRegistry(regKey());
      assert.ok(got);
      assert.ok('stateNotificationConfig' in got && 'mqttEnabledState' in got);
      assert.equal(got.stateNotificationConfig, undefined);
      assert.equal(got.mqttEnabledState, undefined);
      assert.deepEqual(got, makeRegistry(regKey()));
    });

    it('get of a missing registry is undefined', async () => {
      const store = await fresh();
      await store.createRegistry(makeRegistry(regKey('reg-1')));
      assert.equal(await store.getRegistry(regKey('reg-2')), undefined);
      assert.equal(await store.getRegistry(regKey('reg-1', 'other-proj')), undefined);
      assert.equal(await store.getRegistry(regKey('reg-1', 'proj', 'europe-west1')), undefined);
    });

    it('a duplicate ID is ALREADY_EXISTS and leaves the original; other projects/locations are separate', async () => {
      const store = await fresh();
      await store.createRegistry(makeRegistry(regKey()));
      await rejectsWith(
        store.createRegistry(makeRegistry(regKey(), { logLevel: 'DEBUG' })),
        'ALREADY_EXISTS',
        'Registry "projects/proj/locations/us-central1/registries/reg-1" already exists.',
      );
      assert.equal((await store.getRegistry(regKey()))?.logLevel, 'INFO');
      await store.createRegistry(makeRegistry(regKey('reg-1', 'proj-2')));
      await store.createRegistry(makeRegistry(regKey('reg-1', 'proj', 'asia-east1')));
      assert.ok(await store.getRegistry(regKey('reg-1', 'proj-2')));
    });

    it('lists one project/location in ID order, page by page with keyset tokens', async () => {
      const store = await fresh();
      for (const i of scrambled(25)) await store.createRegistry(makeRegistry(regKey(`r-${pad(i)}`)));
      await store.createRegistry(makeRegistry(regKey('r-05x', 'proj-2')));
      await store.createRegistry(makeRegistry(regKey('r-05y', 'proj', 'asia-east1')));
      const seen: string[] = [];
      const sizes: number[] = [];
      let after: string | undefined;
      do {
        const page = await store.listRegistries('proj', 'us-central1', after, 10);
        sizes.push(page.items.length);
        seen.push(...page.items.map((r) => r.registry));
        if (page.next !== undefined) assert.equal(page.next, page.items[page.items.length - 1]?.registry);
        after = page.next;
      } while (after !== undefined);
      assert.deepEqual(sizes, [10, 10, 5]);
      assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `r-${pad(i)}`));
      const p1 = await store.listRegistries('proj', 'us-central1', undefined, 10);
      assert.deepEqual(p1.items[0], makeRegistry(regKey('r-00')));
    });

    it('lists every registry of every project in (project, location, ID) order, page by page', async () => {
      const store = await fresh();
      // "a-b" sorts before "a/" as text but after "a" as a project: the order is by field, not by name.
      const keys = [regKey('r-2', 'a'), regKey('r-1', 'a-b'), regKey('r-1', 'a'), regKey('r-0', 'a', 'asia-east1'), regKey('r-9', 'b')];
      for (const k of keys) await store.createRegistry(makeRegistry(k));
      const seen: string[] = [];
      let after: string | undefined;
      do {
        const page = await store.listAllRegistries(after, 2);
        seen.push(...page.items.map((r) => `${r.project}/${r.location}/${r.registry}`));
        after = page.next;
      } while (after !== undefined);
      assert.deepEqual(seen, ['a/asia-east1/r-0', 'a/us-central1/r-1', 'a/us-central1/r-2', 'a-b/us-central1/r-1', 'b/us-central1/r-9']);
      assert.deepEqual(await (await fresh()).listAllRegistries(undefined, 10), { items: [], next: undefined });
    });

    it('a page that ends exactly at the last registry has no next token', async () => {
      const store = await fresh();
      for (let i = 0; i < 4; i++) await store.createRegistry(makeRegistry(regKey(`r-${i}`)));
      const all = await store.listRegistries('proj', 'us-central1', undefined, 4);
      assert.equal(all.items.length, 4);
      assert.equal(all.next, undefined);
      const rest = await store.listRegistries('proj', 'us-central1', 'r-1', 2);
      assert.deepEqual(
        rest.items.map((r) => r.registry),
        ['r-2', 'r-3'],
      );
      assert.equal(rest.next, undefined);
      assert.deepEqual(await store.listRegistries('proj', 'nowhere', undefined, 10), { items: [], next: undefined });
    });

    it('update replaces the mutable fields; NOT_FOUND when absent', async () => {
      const store = await fresh();
      await store.createRegistry(makeRegistry(regKey()));
      const updated = makeRegistry(regKey(), {
        eventNotificationConfigs: [],
        stateNotificationConfig: { pubsubTopicName: 'projects/proj/topics/s2' },
        mqttEnabledState: 'MQTT_ENABLED',
        httpEnabledState: undefined,
        logLevel: 'ERROR',
      });
      const returned = await store.updateRegistry(updated);
      const expected = { ...structuredClone(updated), revision: 2 };
      assert.deepEqual(returned, expected);
      assert.deepEqual(await store.getRegistry(regKey()), expected);
      updated.eventNotificationConfigs.push({ pubsubTopicName: 'late', subfolderMatches: '' });
      updated.logLevel = 'DEBUG';
      assert.deepEqual(await store.getRegistry(regKey()), expected);
      await rejectsWith(
        store.updateRegistry(makeRegistry(regKey('ghost'))),
        'NOT_FOUND',
        'Registry "projects/proj/locations/us-central1/registries/ghost" not found.',
      );
      assert.equal(await store.getRegistry(regKey('ghost')), undefined);
    });

    it('delete: NOT_FOUND when absent, FAILED_PRECONDITION while it has devices, takes the IAM policy along', async () => {
      const store = await fresh();
      const k = regKey();
      await rejectsWith(store.deleteRegistry(k), 'NOT_FOUND');
      await store.createRegistry(makeRegistry(k));
      const set = await store.setIamPolicy(k, policy(1, [7]), undefined);
      const d = await store.createDevice(makeDevice(k, 'dev-1'));
      await rejectsWith(
        store.deleteRegistry(k),
        'FAILED_PRECONDITION',
        'Registry "projects/proj/locations/us-central1/registries/reg-1" is not empty; delete its devices first.',
      );
      assert.ok(await store.getRegistry(k));
      assert.deepEqual(await store.getIamPolicy(k), set);
      assert.ok(await store.getDevice(k, 'dev-1'));
      await store.deleteDevice(d.numId);
      await store.deleteRegistry(k);
      assert.equal(await store.getRegistry(k), undefined);
      await rejectsWith(store.getIamPolicy(k), 'NOT_FOUND');
      await store.createRegistry(makeRegistry(k));
      assert.deepEqual(await store.getIamPolicy(k), EMPTY_POLICY, 'a recreated registry must not inherit the old policy');
    });
  });

  describe('IAM policies', () => {
    it('empty until set; set replaces with the next etag; per registry; independent copies', async () => {
      const store = await fresh();
      const a = regKey('reg-a');
      const b = regKey('reg-b');
      await store.createRegistry(makeRegistry(a));
      await store.createRegistry(makeRegistry(b));
      assert.deepEqual(await store.getIamPolicy(a), EMPTY_POLICY);
      const first = await store.setIamPolicy(a, { version: 1, bindings: policy(1, []).bindings }, undefined);
      assert.equal(first.version, 1);
      assert.notDeepEqual(bytesOf(first.etag), bytesOf(EMPTY_POLICY.etag));
      const got = await store.getIamPolicy(a);
      assert.deepEqual(got, first);
      got.etag.fill(9);
      got.bindings.pop();
      assert.deepEqual(await store.getIamPolicy(a), first);
      const v3: Omit<IamPolicy, 'etag'> = {
        version: 3,
        bindings: [
          { role: 'roles/editor', members: ['group:a@example.com', 'user:b@example.com'] },
          { role: 'roles/viewer', members: ['allUsers'], condition: { expression: 'true', title: 't' } },
        ],
      };
      const second = await store.setIamPolicy(a, v3, first.etag);
      assert.deepEqual(await store.getIamPolicy(a), { ...v3, etag: second.etag });
      assert.notDeepEqual(bytesOf(second.etag), bytesOf(first.etag));
      assert.deepEqual(await store.getIamPolicy(b), EMPTY_POLICY);
    });

    it('a stale etag is ABORTED (ETAG_MISMATCH) and changes nothing; no etag overwrites', async () => {
      const store = await fresh();
      const k = regKey();
      await store.createRegistry(makeRegistry(k));
      const first = await store.setIamPolicy(k, policy(1, []), undefined);
      const second = await store.setIamPolicy(k, policy(3, []), first.etag);
      await rejectsWith(store.setIamPolicy(k, policy(1, []), first.etag), 'ABORTED');
      await rejectsWith(store.setIamPolicy(k, policy(1, []), EMPTY_POLICY.etag), 'ABORTED');
      assert.deepEqual(await store.getIamPolicy(k), second);
      const third = await store.setIamPolicy(k, policy(1, []), undefined);
      assert.equal(third.version, 1);
    });

    it('IAM calls on a missing registry are NOT_FOUND', async () => {
      const store = await fresh();
      await rejectsWith(store.setIamPolicy(regKey('ghost'), policy(1, [1]), undefined), 'NOT_FOUND');
      await rejectsWith(store.getIamPolicy(regKey('ghost')), 'NOT_FOUND');
    });
  });

  describe('lifecycle', () => {
    it('close is idempotent and later calls fail with UNAVAILABLE', async () => {
      const store = await fresh();
      await store.createRegistry(makeRegistry(regKey()));
      await store.close();
      await store.close();
      await rejectsWith(store.getRegistry(regKey()), 'UNAVAILABLE', 'The registry store is closed.');
      await rejectsWith(store.createRegistry(makeRegistry(regKey('r2'))), 'UNAVAILABLE');
    });
  });
}
