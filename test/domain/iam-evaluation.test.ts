import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { grants, policyScope } from '../../src/domain/iam-evaluation.js';
import { isKnownRole, rolePermissions, ROLES } from '../../src/domain/iam-roles.js';
import type { IamBinding, IamPolicy } from '../../src/domain/model.js';
import { PERMISSIONS, PUBSUB_PERMISSIONS, type Permission } from '../../src/domain/permissions.js';

const SA = 'robot-01@proj.iam.gserviceaccount.com';
const policy = (...bindings: IamBinding[]): IamPolicy => ({ version: 1, bindings, etag: new Uint8Array([1]) });
const bind = (role: string, ...members: string[]): IamBinding => ({ role, members });
const ALL = [...new Set(Object.values(PERMISSIONS))] as Permission[];
const held = (role: string): string[] => ALL.filter((p) => grants([policy(bind(role, `serviceAccount:${SA}`))], SA, p)).sort();

describe('predefined roles (Google\'s "Access control with IAM" table)', () => {
  test('each Cloud IoT role holds exactly the documented permissions, each including the one below', () => {
    const viewer = ['cloudiot.devices.get', 'cloudiot.devices.list', 'cloudiot.registries.get', 'cloudiot.registries.list'];
    const controller = [...viewer, 'cloudiot.devices.sendCommand', 'cloudiot.devices.updateConfig'].sort();
    const provisioner = [
      ...controller,
      'cloudiot.devices.bindGateway',
      'cloudiot.devices.create',
      'cloudiot.devices.delete',
      'cloudiot.devices.unbindGateway',
      'cloudiot.devices.update',
    ].sort();
    const editor = [...provisioner, 'cloudiot.registries.create', 'cloudiot.registries.delete', 'cloudiot.registries.update'].sort();
    const admin = [...editor, 'cloudiot.registries.getIamPolicy', 'cloudiot.registries.setIamPolicy'].sort();
    assert.deepEqual(held('roles/cloudiot.viewer'), viewer);
    assert.deepEqual(held('roles/cloudiot.deviceController'), controller);
    assert.deepEqual(held('roles/cloudiot.provisioner'), provisioner);
    assert.deepEqual(held('roles/cloudiot.editor'), editor);
    assert.deepEqual(held('roles/cloudiot.admin'), admin);
    assert.deepEqual(held('roles/owner'), ALL.sort(), 'the owner holds every Cloud IoT permission');
    assert.ok(!held('roles/editor').includes('cloudiot.registries.setIamPolicy'), 'an editor cannot change policies');
    assert.ok(held('roles/viewer').includes('cloudiot.registries.getIamPolicy'));
    assert.ok(!held('roles/viewer').includes('cloudiot.devices.updateConfig'));
  });

  test('no role grants service-account or project-policy administration (admin token only)', () => {
    for (const [role, perms] of Object.entries(ROLES)) {
      assert.ok(![...perms].some((p) => p.startsWith('iam.') || p.startsWith('resourcemanager.')), role);
    }
  });

  test('unknown roles are known as unknown and grant nothing', () => {
    assert.equal(isKnownRole('roles/cloudiot.superuser'), false);
    assert.equal(isKnownRole('toString'), false, 'no inherited object keys');
    assert.equal(rolePermissions('constructor').size, 0);
    assert.deepEqual(held('roles/cloudiot.superuser'), []);
  });
});

describe('Pub/Sub roles ("Pub/Sub roles and permissions")', () => {
  const PS = [...PUBSUB_PERMISSIONS];
  const psHeld = (role: string): string[] => PS.filter((p) => grants([policy(bind(role, `serviceAccount:${SA}`))], SA, p)).sort();

  test('publisher publishes; subscriber consumes, seeks and attaches subscriptions', () => {
    assert.deepEqual(psHeld('roles/pubsub.publisher'), ['pubsub.topics.publish']);
    assert.deepEqual(psHeld('roles/pubsub.subscriber'), ['pubsub.snapshots.seek', 'pubsub.subscriptions.consume', 'pubsub.topics.attachSubscription']);
  });

  test('viewer reads, editor changes everything but policies, admin holds every Pub/Sub permission', () => {
    assert.deepEqual(psHeld('roles/pubsub.viewer'), [
      'pubsub.snapshots.get',
      'pubsub.snapshots.list',
      'pubsub.subscriptions.get',
      'pubsub.subscriptions.list',
      'pubsub.topics.get',
      'pubsub.topics.list',
    ]);
    const editor = psHeld('roles/pubsub.editor');
    assert.ok(editor.includes('pubsub.topics.publish') && editor.includes('pubsub.subscriptions.consume') && editor.includes('pubsub.topics.detachSubscription'));
    assert.ok(!editor.some((p) => p.endsWith('IamPolicy')), 'an editor cannot read or change policies');
    assert.deepEqual(psHeld('roles/pubsub.admin'), [...PS].sort());
    assert.deepEqual(psHeld('roles/owner'), [...PS].sort());
  });

  test('the basic roles: viewer reads and reads policies, editor does not set them', () => {
    assert.ok(psHeld('roles/viewer').includes('pubsub.topics.getIamPolicy'));
    assert.ok(!psHeld('roles/viewer').includes('pubsub.subscriptions.consume'));
    assert.ok(psHeld('roles/editor').includes('pubsub.subscriptions.consume'));
    assert.ok(!psHeld('roles/editor').includes('pubsub.topics.setIamPolicy'));
  });

  test('no Pub/Sub role grants Cloud IoT permissions, nor the other way round', () => {
    for (const role of ['roles/pubsub.admin', 'roles/pubsub.editor']) assert.deepEqual(held(role), []);
    assert.deepEqual(psHeld('roles/cloudiot.admin'), []);
  });
});

describe('grants', () => {
  test('a binding to another member, or of another role, grants nothing', () => {
    const p = policy(bind('roles/cloudiot.admin', 'serviceAccount:other-01@proj.iam.gserviceaccount.com', `user:${SA}`), bind('roles/cloudiot.viewer', `serviceAccount:${SA}`));
    assert.equal(grants([p], SA, 'cloudiot.devices.get'), true);
    assert.equal(grants([p], SA, 'cloudiot.devices.create'), false);
  });

  test('any of several policies may grant (registry and project); none grants on an empty list', () => {
    const registry = policy(bind('roles/cloudiot.deviceController', `serviceAccount:${SA}`));
    const project = policy(bind('roles/cloudiot.provisioner', `serviceAccount:${SA}`));
    assert.equal(grants([registry, project], SA, 'cloudiot.devices.create'), true);
    assert.equal(grants([registry], SA, 'cloudiot.devices.create'), false);
    assert.equal(grants([], SA, 'cloudiot.devices.get'), false);
  });

  test('members compare without regard to case; allUsers and allAuthenticatedUsers cover every caller', () => {
    assert.equal(grants([policy(bind('roles/cloudiot.viewer', `serviceaccount:${SA.toUpperCase()}`))], SA, 'cloudiot.devices.get'), true);
    assert.equal(grants([policy(bind('roles/cloudiot.viewer', 'allAuthenticatedUsers'))], SA, 'cloudiot.devices.get'), true);
    assert.equal(grants([policy(bind('roles/cloudiot.viewer', 'allUsers'))], SA, 'cloudiot.devices.list'), true);
    assert.equal(grants([policy(bind('roles/cloudiot.viewer', `deleted:serviceAccount:${SA}?uid=123`))], SA, 'cloudiot.devices.get'), false);
  });

  test('a conditional binding is not honoured (docs/compat.md C-IAM-EVAL)', () => {
    const conditional: IamBinding = { ...bind('roles/cloudiot.admin', `serviceAccount:${SA}`), condition: { expression: 'request.time < timestamp("2999-01-01T00:00:00Z")' } };
    assert.equal(grants([policy(conditional)], SA, 'cloudiot.devices.get'), false);
  });
});

describe('policyScope', () => {
  test('registry and device names reach their registry; Pub/Sub resources their own policy; everything else only its project', () => {
    const reg = { project: 'p', location: 'us-central1', registry: 'r1' };
    const none = { pubsubResource: undefined };
    assert.deepEqual(policyScope('projects/p/locations/us-central1/registries/r1'), { project: 'p', registry: reg, ...none });
    assert.deepEqual(policyScope('projects/p/locations/us-central1/registries/r1/devices/d1'), { project: 'p', registry: reg, ...none });
    assert.deepEqual(policyScope('projects/p/locations/us-central1'), { project: 'p', registry: undefined, ...none });
    assert.deepEqual(policyScope('projects/p'), { project: 'p', registry: undefined, ...none });
    assert.deepEqual(policyScope(`projects/p/serviceAccounts/${SA}/keys/abc`), { project: 'p', registry: undefined, ...none });
    for (const r of ['projects/p/topics/t', 'projects/p/subscriptions/s', 'projects/p/snapshots/s']) {
      assert.deepEqual(policyScope(r), { project: 'p', registry: undefined, pubsubResource: r });
    }
  });

  test('anything else has no scope', () => {
    for (const r of ['', 'projects', 'projects/', 'projects/p/', 'folders/1', 'projects/p/locations/l/registries/r/groups/g', 'projects/p/locations/l/registries']) {
      assert.equal(policyScope(r), undefined, r);
    }
  });
});
