import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ApiError } from '../../src/domain/errors.js';
import type { IamBinding, IamPolicy } from '../../src/domain/model.js';
import { ApiAuth, type Principal, type ServiceAccountAuth } from '../../src/services/api-auth.js';
import type { ServiceAccountPrincipal } from '../../src/services/service-account-credentials.js';
import { makeRegistry, regKey } from '../contracts/store-fixtures.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const SA: ServiceAccountPrincipal = { kind: 'service-account', email: 'robot-01@proj.iam.gserviceaccount.com', project: 'proj' };
const REG = 'projects/proj/locations/us-central1/registries/reg-1';
const LOCATION = 'projects/proj/locations/us-central1';

/** Credentials that know one JWT and one access token, recording what reached them. */
function fakeCredentials(): ServiceAccountAuth['credentials'] & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    async authenticateJwt(token) {
      seen.push(`jwt:${token}`);
      if (token === 'h.p.s') return SA;
      throw new ApiError('UNAUTHENTICATED', 'bad jwt', { reason: 'JWT_BAD_SIGNATURE' });
    },
    authenticateAccessToken(token) {
      seen.push(`access:${token}`);
      return token === 'bh1.good' ? SA : undefined;
    },
    async requireUsableKey(keyId) {
      seen.push(`key:${keyId}`);
      if (keyId === 'revoked-key') throw new ApiError('UNAUTHENTICATED', 'key disabled', { reason: 'JWT_KEY_DISABLED' });
    },
  };
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ApiError);
    return `${e.kind}/${e.reason}`;
  }
  return 'ok';
}

describe('ApiAuth.authenticate', () => {
  it('the admin token, a JWT, an access token; everything else is named missing or invalid', async () => {
    const credentials = fakeCredentials();
    const auth = new ApiAuth(ADMIN_TOKEN, { credentials, policies: new MemoryStore() });
    assert.deepEqual(await auth.authenticate(`Bearer ${ADMIN_TOKEN}`), { kind: 'admin' });
    assert.deepEqual(await auth.authenticate(`bearer ${ADMIN_TOKEN}`), { kind: 'admin' });
    assert.deepEqual(await auth.authenticate('Bearer h.p.s'), SA);
    assert.deepEqual(await auth.authenticate('Bearer bh1.good'), SA);
    assert.equal(await reasonOf(auth.authenticate('Bearer x.y.z')), 'UNAUTHENTICATED/JWT_BAD_SIGNATURE');
    assert.equal(await reasonOf(auth.authenticate('Bearer bh1.unknown')), 'UNAUTHENTICATED/CREDENTIALS_INVALID');
    assert.equal(await reasonOf(auth.authenticate(undefined)), 'UNAUTHENTICATED/CREDENTIALS_MISSING');
    assert.equal(await reasonOf(auth.authenticate('')), 'UNAUTHENTICATED/CREDENTIALS_MISSING');
    assert.equal(await reasonOf(auth.authenticate(`Basic ${ADMIN_TOKEN}`)), 'UNAUTHENTICATED/CREDENTIALS_INVALID');
    assert.deepEqual(credentials.seen, ['jwt:h.p.s', 'access:bh1.good', 'jwt:x.y.z', 'access:bh1.unknown'], 'the admin token never reaches them');
  });

  it('without service accounts only the admin token is accepted', async () => {
    const auth = new ApiAuth(ADMIN_TOKEN);
    assert.equal(await reasonOf(auth.authenticate('Bearer h.p.s')), 'UNAUTHENTICATED/CREDENTIALS_INVALID');
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.get', REG), false);
  });
});

describe('ApiAuth.recheckCredential (docs/compat.md C-PS-STREAM-AUTH)', () => {
  it('asks the credentials whether the key a principal came with is still usable; the admin and keyless principals pass', async () => {
    const credentials = fakeCredentials();
    const auth = new ApiAuth(ADMIN_TOKEN, { credentials, policies: new MemoryStore() });
    await auth.recheckCredential({ kind: 'admin' });
    await auth.recheckCredential(SA);
    await auth.recheckCredential({ ...SA, keyId: 'good-key' });
    assert.equal(await reasonOf(auth.recheckCredential({ ...SA, keyId: 'revoked-key' })), 'UNAUTHENTICATED/JWT_KEY_DISABLED');
    assert.deepEqual(credentials.seen, ['key:good-key', 'key:revoked-key']);
  });
});

describe('ApiAuth.allowed and authorize (docs/compat.md C-IAM-EVAL)', () => {
  const member = `serviceAccount:${SA.email}`;
  const setup = async (registry: IamBinding[], project: IamBinding[]) => {
    const store = new MemoryStore();
    await store.createRegistry(makeRegistry(regKey('reg-1')));
    await store.createRegistry(makeRegistry(regKey('reg-2')));
    if (registry.length) await store.setIamPolicy(regKey('reg-1'), { version: 1, bindings: registry }, undefined);
    if (project.length) await store.setProjectIamPolicy('proj', { version: 1, bindings: project }, undefined);
    return new ApiAuth(ADMIN_TOKEN, { credentials: fakeCredentials(), policies: store });
  };

  it('a registry grant holds on that registry and its devices only', async () => {
    const auth = await setup([{ role: 'roles/cloudiot.deviceController', members: [member] }], []);
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.updateConfig', REG), true);
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.updateConfig', `${REG}/devices/d1`), true);
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.delete', REG), false);
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.updateConfig', 'projects/proj/locations/us-central1/registries/reg-2'), false);
    assert.equal(await auth.allowed(SA, 'cloudiot.registries.list', LOCATION), false);
  });

  it('a project grant holds on every registry of the project, existing or not, and on the location', async () => {
    const auth = await setup([], [{ role: 'roles/cloudiot.viewer', members: [member] }]);
    assert.equal(await auth.allowed(SA, 'cloudiot.registries.list', LOCATION), true);
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.get', REG), true);
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.get', 'projects/proj/locations/us-central1/registries/missing'), true);
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.get', 'projects/other/locations/us-central1/registries/reg-1'), false);
    assert.equal(await auth.allowed(SA, 'cloudiot.registries.create', LOCATION), false);
  });

  it('the admin holds everything; names outside any project grant nothing', async () => {
    const auth = await setup([], [{ role: 'roles/owner', members: [member] }]);
    const admin: Principal = { kind: 'admin' };
    assert.equal(await auth.allowed(admin, 'iam.serviceAccounts.create', 'projects/proj'), true);
    assert.equal(await auth.allowed(SA, 'iam.serviceAccounts.create', 'projects/proj'), false, 'no role carries IAM administration');
    assert.equal(await auth.allowed(SA, 'cloudiot.devices.get', 'folders/1'), false);
  });

  it('authorize refuses with PERMISSION_DENIED naming the permission and the resource', async () => {
    const auth = await setup([], [{ role: 'roles/cloudiot.viewer', members: [member] }]);
    await auth.authorize(SA, 'cloudiot.devices.list', REG);
    await assert.rejects(auth.authorize(SA, 'cloudiot.devices.create', REG), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.kind, 'PERMISSION_DENIED');
      assert.equal(e.message, `Permission "cloudiot.devices.create" denied on resource "${REG}" (or it may not exist).`);
      return true;
    });
  });
});

describe('ApiAuth.allowed on Pub/Sub resources (docs/compat.md C-PS-IAM)', () => {
  const member = `serviceAccount:${SA.email}`;
  const TOPIC = 'projects/proj/topics/telemetry';
  const SUB = 'projects/proj/subscriptions/backend';
  /** Resource policies as a PubSubStore keeps them: NOT_FOUND for a resource that does not exist. */
  const resourcePolicies = (own: Record<string, IamBinding[]>, reads: string[]) => ({
    async getIamPolicy(resource: string): Promise<IamPolicy> {
      reads.push(resource);
      const bindings = own[resource];
      if (!bindings) throw new ApiError('NOT_FOUND', `${resource} not found`);
      return { version: 1, bindings, etag: new Uint8Array([1]) };
    },
  });
  const setup = async (own: Record<string, IamBinding[]>, project: IamBinding[], reads: string[] = []) => {
    const store = new MemoryStore();
    if (project.length) await store.setProjectIamPolicy('proj', { version: 1, bindings: project }, undefined);
    return new ApiAuth(ADMIN_TOKEN, { credentials: fakeCredentials(), policies: store, resourcePolicies: resourcePolicies(own, reads) });
  };

  it("a topic's own policy grants on that topic only", async () => {
    const auth = await setup({ [TOPIC]: [{ role: 'roles/pubsub.publisher', members: [member] }], 'projects/proj/topics/other': [] }, []);
    assert.equal(await auth.allowed(SA, 'pubsub.topics.publish', TOPIC), true);
    assert.equal(await auth.allowed(SA, 'pubsub.topics.publish', 'projects/proj/topics/other'), false);
    assert.equal(await auth.allowed(SA, 'pubsub.topics.delete', TOPIC), false);
  });

  it("a subscription's own policy grants consume; the project's policy grants on every resource", async () => {
    const auth = await setup({ [SUB]: [{ role: 'roles/pubsub.subscriber', members: [member] }] }, [{ role: 'roles/pubsub.viewer', members: [member] }]);
    assert.equal(await auth.allowed(SA, 'pubsub.subscriptions.consume', SUB), true);
    assert.equal(await auth.allowed(SA, 'pubsub.subscriptions.get', SUB), true, 'from the project');
    assert.equal(await auth.allowed(SA, 'pubsub.topics.get', 'projects/proj/topics/missing'), true, 'a missing resource: the project decides');
    assert.equal(await auth.allowed(SA, 'pubsub.subscriptions.consume', 'projects/proj/subscriptions/missing'), false);
  });

  it('the policy read is the one of the resource named, never another kind with the same ID', async () => {
    const reads: string[] = [];
    const auth = await setup({ 'projects/proj/topics/x1': [{ role: 'roles/pubsub.admin', members: [member] }] }, [], reads);
    assert.equal(await auth.allowed(SA, 'pubsub.subscriptions.consume', 'projects/proj/subscriptions/x1'), false);
    assert.deepEqual(reads, ['projects/proj/subscriptions/x1']);
  });

  it('without resource policies only the project grants (the Device Manager setup)', async () => {
    const store = new MemoryStore();
    await store.setProjectIamPolicy('proj', { version: 1, bindings: [{ role: 'roles/pubsub.publisher', members: [member] }] }, undefined);
    const auth = new ApiAuth(ADMIN_TOKEN, { credentials: fakeCredentials(), policies: store });
    assert.equal(await auth.allowed(SA, 'pubsub.topics.publish', TOPIC), true);
    assert.equal(await auth.allowed(SA, 'pubsub.topics.create', 'projects/proj'), false);
  });
});
