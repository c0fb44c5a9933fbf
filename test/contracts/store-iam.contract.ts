import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IamPolicy } from '../../src/domain/model.js';
import type { ServiceAccount, ServiceAccountKey } from '../../src/domain/service-accounts.js';
import type { Store } from '../../src/services/ports.js';
import { bytesOf, makeRegistry, regKey, rejectsWith, T0, type ContractContext } from './store-fixtures.js';

let uniqueIds = 0;
const nextUniqueId = (): string => `1${String(++uniqueIds).padStart(20, '0')}`;

const account = (id: string, project = 'proj', uniqueId = nextUniqueId()): ServiceAccount => ({
  project,
  accountId: id,
  email: `${id}@${project}.iam.gserviceaccount.com`,
  uniqueId,
  displayName: `Account ${id}`,
  description: '',
  createTime: T0,
});

let keySeq = 0;
const key = (a: ServiceAccount, over: Partial<ServiceAccountKey> = {}): ServiceAccountKey => ({
  keyId: (++keySeq).toString(16).padStart(40, '0'),
  email: a.email,
  project: a.project,
  publicKeyPem: '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n',
  tokenUri: 'http://127.0.0.1:8080/token',
  createTime: T0 + keySeq,
  disabled: false,
  ...over,
});

const members = (p: IamPolicy, role: string): string[] | undefined => p.bindings.find((b) => b.role === role)?.members;

/**
 * Project policies, service accounts and the public parts of their keys (docs/compat.md C-SA-*).
 * `persistent`: the factory provides `reopen`.
 */
export function iamContract({ fresh, freshWithReopen }: ContractContext, { persistent }: { persistent: boolean }): void {
  describe('project IAM policies', () => {
    it('every project starts with the empty policy; set/get round-trip with etags, per project', async () => {
      const store = await fresh();
      const empty = await store.getProjectIamPolicy('proj');
      assert.equal(empty.version, 0);
      assert.deepEqual(empty.bindings, []);
      assert.deepEqual(bytesOf(empty.etag), [0x41, 0x43, 0x41, 0x42]);
      const set = await store.setProjectIamPolicy('proj', { version: 1, bindings: [{ role: 'roles/cloudiot.viewer', members: ['user:a@example.com'] }] }, empty.etag);
      assert.deepEqual(await store.getProjectIamPolicy('proj'), set);
      assert.notDeepEqual(bytesOf(set.etag), bytesOf(empty.etag));
      await rejectsWith(store.setProjectIamPolicy('proj', { version: 1, bindings: [] }, empty.etag), 'ABORTED');
      assert.deepEqual((await store.getProjectIamPolicy('other')).bindings, []);
      // Project and registry policies are separate things.
      await store.createRegistry(makeRegistry(regKey()));
      assert.deepEqual((await store.getIamPolicy(regKey())).bindings, []);
    });

    it('an empty policy handed out is the caller\'s own copy: writing into it changes nobody else\'s', async () => {
      const store = await fresh();
      (await store.getProjectIamPolicy('proj')).etag.fill(9);
      await store.createRegistry(makeRegistry(regKey()));
      (await store.getIamPolicy(regKey())).etag.fill(9);
      assert.deepEqual(bytesOf((await store.getProjectIamPolicy('proj')).etag), [0x41, 0x43, 0x41, 0x42]);
      assert.deepEqual(bytesOf((await store.getIamPolicy(regKey())).etag), [0x41, 0x43, 0x41, 0x42]);
    });
  });

  describe('service accounts', () => {
    it('create then get by e-mail or unique ID returns equal copies; unknown ones are undefined', async () => {
      const store = await fresh();
      const a = account('robot-1');
      assert.deepEqual(await store.createServiceAccount(a, []), a);
      const got = await store.getServiceAccount(a.email);
      assert.deepEqual(got, a);
      got!.displayName = 'changed';
      assert.deepEqual(await store.getServiceAccount(a.uniqueId), a);
      assert.equal(await store.getServiceAccount('ghost-01@proj.iam.gserviceaccount.com'), undefined);
      assert.equal(await store.getServiceAccount('999999999999999999999'), undefined);
    });

    it('a taken e-mail or unique ID is ALREADY_EXISTS and changes nothing', async () => {
      const store = await fresh();
      const a = account('robot-1');
      await store.createServiceAccount(a, []);
      await rejectsWith(store.createServiceAccount({ ...a, uniqueId: nextUniqueId() }, ['roles/cloudiot.admin']), 'ALREADY_EXISTS', `Service account "${a.email}" already exists.`);
      await rejectsWith(store.createServiceAccount({ ...account('robot-2'), uniqueId: a.uniqueId }, []), 'ALREADY_EXISTS');
      assert.equal(await store.getServiceAccount('robot-2@proj.iam.gserviceaccount.com'), undefined);
      assert.deepEqual((await store.getProjectIamPolicy('proj')).bindings, [], 'the refused create granted nothing');
    });

    it('roles given at creation are bound in the project policy in the same write, merged with existing bindings', async () => {
      const store = await fresh();
      const before = await store.setProjectIamPolicy(
        'proj',
        { version: 1, bindings: [{ role: 'roles/cloudiot.viewer', members: ['user:ops@example.com'] }, { role: 'roles/owner', members: ['user:boss@example.com'] }] },
        undefined,
      );
      const a = account('robot-1');
      await store.createServiceAccount(a, ['roles/cloudiot.viewer', 'roles/cloudiot.deviceController', 'roles/cloudiot.viewer']);
      const after = await store.getProjectIamPolicy('proj');
      assert.deepEqual(members(after, 'roles/cloudiot.viewer'), ['user:ops@example.com', `serviceAccount:${a.email}`]);
      assert.deepEqual(members(after, 'roles/cloudiot.deviceController'), [`serviceAccount:${a.email}`]);
      assert.deepEqual(members(after, 'roles/owner'), ['user:boss@example.com']);
      assert.notDeepEqual(bytesOf(after.etag), bytesOf(before.etag), 'a changed policy has a new etag');
      // Without roles the policy is not touched at all.
      await store.createServiceAccount(account('robot-2'), []);
      assert.deepEqual(await store.getProjectIamPolicy('proj'), after);
      // An account in another project gets its roles there.
      await store.createServiceAccount(account('robot-3', 'other'), ['roles/cloudiot.admin']);
      assert.equal((await store.getProjectIamPolicy('other')).version, 1);
      assert.deepEqual(members(await store.getProjectIamPolicy('other'), 'roles/cloudiot.admin'), ['serviceAccount:robot-3@other.iam.gserviceaccount.com']);
    });

    it('lists one project\'s accounts in e-mail order, page by page', async () => {
      const store = await fresh();
      const ids = ['robot-05', 'robot-01', 'robot-04', 'robot-02', 'robot-03'];
      for (const id of ids) await store.createServiceAccount(account(id), []);
      await store.createServiceAccount(account('robot-00', 'other'), []);
      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.listServiceAccounts('proj', after, 2);
        assert.ok(page.items.length <= 2);
        seen.push(...page.items.map((a) => a.accountId));
        if (page.next === undefined) break;
        assert.equal(page.next, page.items[page.items.length - 1]?.email);
        after = page.next;
      }
      assert.deepEqual(seen, ['robot-01', 'robot-02', 'robot-03', 'robot-04', 'robot-05']);
      assert.deepEqual((await store.listServiceAccounts('empty', undefined, 10)).items, []);
    });
  });

  describe('service account keys', () => {
    it('keys: create, get by ID, list oldest first, disable and enable, delete; NOT_FOUND for the unknown', async () => {
      const store = await fresh();
      const a = await store.createServiceAccount(account('robot-1'), []);
      const k1 = key(a);
      const k2 = key(a, { createTime: k1.createTime + 10 });
      assert.deepEqual(await store.createServiceAccountKey(k2, 10), k2);
      assert.deepEqual(await store.createServiceAccountKey(k1, 10), k1);
      assert.deepEqual(await store.getServiceAccountKey(k1.keyId), k1);
      assert.deepEqual(await store.listServiceAccountKeys(a.email), [k1, k2]);
      assert.deepEqual(await store.listServiceAccountKeys('ghost-01@proj.iam.gserviceaccount.com'), []);

      assert.deepEqual(await store.setServiceAccountKeyDisabled(k1.keyId, true), { ...k1, disabled: true });
      assert.equal((await store.getServiceAccountKey(k1.keyId))?.disabled, true);
      assert.equal((await store.getServiceAccountKey(k2.keyId))?.disabled, false);
      assert.deepEqual(await store.setServiceAccountKeyDisabled(k1.keyId, false), k1);

      await store.deleteServiceAccountKey(k1.keyId);
      assert.equal(await store.getServiceAccountKey(k1.keyId), undefined);
      assert.deepEqual(await store.listServiceAccountKeys(a.email), [k2]);
      await rejectsWith(store.deleteServiceAccountKey(k1.keyId), 'NOT_FOUND', `Service account key "${k1.keyId}" not found.`);
      await rejectsWith(store.setServiceAccountKeyDisabled(k1.keyId, true), 'NOT_FOUND');
      await rejectsWith(store.createServiceAccountKey(key(account('ghost-01')), 10), 'NOT_FOUND', 'Service account "ghost-01@proj.iam.gserviceaccount.com" not found.');
    });

    it('the key limit is FAILED_PRECONDITION (KEY_LIMIT) and counts per account; a deleted key frees its slot', async () => {
      const store = await fresh();
      const a = await store.createServiceAccount(account('robot-1'), []);
      const b = await store.createServiceAccount(account('robot-2'), []);
      const first = await store.createServiceAccountKey(key(a), 2);
      await store.createServiceAccountKey(key(a), 2);
      await rejectsWith(store.createServiceAccountKey(key(a), 2), 'FAILED_PRECONDITION', `Service account "${a.email}" already has the maximum of 2 keys; delete one first.`);
      assert.equal((await store.listServiceAccountKeys(a.email)).length, 2);
      await store.createServiceAccountKey(key(b), 2);
      await store.deleteServiceAccountKey(first.keyId);
      await store.createServiceAccountKey(key(a), 2);
    });
  });

  describe('deleting a service account', () => {
    it('removes its keys and its member from every project and registry policy; other grants stay', async () => {
      const store = await fresh();
      const a = await store.createServiceAccount(account('robot-1'), ['roles/cloudiot.viewer']);
      const b = await store.createServiceAccount(account('robot-2'), ['roles/cloudiot.viewer']);
      const k = await store.createServiceAccountKey(key(a), 10);
      const kb = await store.createServiceAccountKey(key(b), 10);
      await store.createRegistry(makeRegistry(regKey('reg-1')));
      await store.createRegistry(makeRegistry(regKey('reg-2')));
      await store.createRegistry(makeRegistry(regKey('reg-x', 'elsewhere')));
      const upper = `serviceAccount:${a.email.toUpperCase()}`;
      await store.setIamPolicy(regKey('reg-1'), { version: 1, bindings: [{ role: 'roles/cloudiot.admin', members: [upper] }, { role: 'roles/cloudiot.viewer', members: [`serviceAccount:${a.email}`, 'user:x@example.com'] }] }, undefined);
      const untouched = await store.setIamPolicy(regKey('reg-2'), { version: 1, bindings: [{ role: 'roles/cloudiot.viewer', members: [`serviceAccount:${b.email}`] }] }, undefined);
      await store.setIamPolicy(regKey('reg-x', 'elsewhere'), { version: 1, bindings: [{ role: 'roles/cloudiot.editor', members: [`serviceAccount:${a.email}`] }] }, undefined);
      const otherProject = await store.setProjectIamPolicy('elsewhere', { version: 1, bindings: [{ role: 'roles/viewer', members: [`serviceAccount:${a.email}`, 'user:y@example.com'] }] }, undefined);

      await store.deleteServiceAccount(a.email);

      assert.equal(await store.getServiceAccount(a.email), undefined);
      assert.equal(await store.getServiceAccount(a.uniqueId), undefined);
      assert.equal(await store.getServiceAccountKey(k.keyId), undefined);
      assert.deepEqual(await store.getServiceAccountKey(kb.keyId), kb);
      assert.deepEqual((await store.getProjectIamPolicy('proj')).bindings, [{ role: 'roles/cloudiot.viewer', members: [`serviceAccount:${b.email}`] }]);
      const elsewhere = await store.getProjectIamPolicy('elsewhere');
      assert.deepEqual(elsewhere.bindings, [{ role: 'roles/viewer', members: ['user:y@example.com'] }]);
      assert.notDeepEqual(bytesOf(elsewhere.etag), bytesOf(otherProject.etag));
      assert.deepEqual((await store.getIamPolicy(regKey('reg-1'))).bindings, [{ role: 'roles/cloudiot.viewer', members: ['user:x@example.com'] }], 'case-insensitive, emptied bindings dropped');
      assert.deepEqual(await store.getIamPolicy(regKey('reg-2')), untouched, 'a policy without the member keeps its etag');
      assert.deepEqual((await store.getIamPolicy(regKey('reg-x', 'elsewhere'))).bindings, []);
      await rejectsWith(store.deleteServiceAccount(a.email), 'NOT_FOUND', `Service account "${a.email}" not found.`);

      // The same e-mail again is a new account with no grant and no key.
      await store.createServiceAccount(account('robot-1'), []);
      assert.deepEqual(await store.listServiceAccountKeys(a.email), []);
      assert.ok(!JSON.stringify((await store.getProjectIamPolicy('proj')).bindings).includes(a.email));
    });
  });

  if (!persistent) return;
  describe('service accounts across reopen', () => {
    it('accounts, keys (with their disabled flag) and project policies survive close and reopen', async () => {
      const { store, reopen } = await freshWithReopen();
      assert.ok(reopen);
      const a = await store.createServiceAccount(account('robot-1'), ['roles/cloudiot.provisioner']);
      const k = await store.createServiceAccountKey(key(a), 10);
      await store.setServiceAccountKeyDisabled(k.keyId, true);
      const capture = async (s: Store): Promise<unknown> => ({
        account: await s.getServiceAccount(a.email),
        keys: await s.listServiceAccountKeys(a.email),
        policy: await s.getProjectIamPolicy('proj'),
      });
      const before = await capture(store);
      await store.close();
      assert.deepEqual(await capture(await reopen()), before);
    });
  });
}
