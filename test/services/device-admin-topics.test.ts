import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NodeKeyInspector } from '../../src/adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ApiError } from '../../src/domain/errors.js';
import { ApiAuth, type Principal } from '../../src/services/api-auth.js';
import { DeviceAdmin, type TopicProvisioner } from '../../src/services/device-admin.js';

const ADMIN: Principal = { kind: 'admin' };
const parent = 'projects/p/locations/us-central1';
const T = (id: string): string => `projects/p/topics/${id}`;

/** Records every ensureTopics call; fails when told to. */
function recordingTopics(fail?: ApiError): TopicProvisioner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async ensureTopics(names) {
      calls.push([...names]);
      if (fail) throw fail;
    },
  };
}

const adminWith = (store: MemoryStore, topics?: TopicProvisioner): DeviceAdmin =>
  new DeviceAdmin(store, new NodeKeyInspector(), { now: () => Date.now() }, { publish: async () => undefined }, { send: async () => undefined }, new ApiAuth('token'), topics);

/** docs/compat.md C-PS-AUTO-TOPICS: the topics a registry routes to exist once it does. */
describe('DeviceAdmin: the Pub/Sub topics of a registry', () => {
  it('creating a registry ensures its event and state topics, each once', async () => {
    const topics = recordingTopics();
    const admin = adminWith(new MemoryStore(), topics);
    await admin.createDeviceRegistry(ADMIN, {
      parent,
      deviceRegistry: {
        id: 'reg',
        eventNotificationConfigs: [{ pubsubTopicName: T('alerts'), subfolderMatches: 'alerts' }, { pubsubTopicName: T('events') }],
        stateNotificationConfig: { pubsubTopicName: T('events') },
      },
    });
    assert.deepEqual(topics.calls, [[T('alerts'), T('events')]]);
  });

  it('an update ensures topics only when it changes the notification configs', async () => {
    const topics = recordingTopics();
    const admin = adminWith(new MemoryStore(), topics);
    await admin.createDeviceRegistry(ADMIN, { parent, deviceRegistry: { id: 'reg' } });
    const name = `${parent}/registries/reg`;
    assert.deepEqual(topics.calls, [[]], 'a registry without configs names no topic');
    await admin.updateDeviceRegistry(ADMIN, { name, deviceRegistry: { logLevel: 'DEBUG' }, updateMask: ['log_level'] });
    await admin.updateDeviceRegistry(ADMIN, {
      name,
      deviceRegistry: { stateNotificationConfig: { pubsubTopicName: T('state') } },
      updateMask: ['state_notification_config'],
    });
    assert.deepEqual(topics.calls, [[], [T('state')]], 'the log_level update asked for nothing');
  });

  it('a registry whose topics cannot be made is not created', async () => {
    const store = new MemoryStore();
    const admin = adminWith(store, recordingTopics(new ApiError('INVALID_ARGUMENT', 'no', { field: 'pubsub_topic_name' })));
    await assert.rejects(
      admin.createDeviceRegistry(ADMIN, { parent, deviceRegistry: { id: 'reg', eventNotificationConfigs: [{ pubsubTopicName: T('google-x') }] } }),
      (e: unknown) => e instanceof ApiError && e.kind === 'INVALID_ARGUMENT',
    );
    assert.equal(await store.getRegistry({ project: 'p', location: 'us-central1', registry: 'reg' }), undefined);
  });

  it('without a provisioner (auto-create off) registries are created naming any topic', async () => {
    const admin = adminWith(new MemoryStore());
    const reg = await admin.createDeviceRegistry(ADMIN, { parent, deviceRegistry: { id: 'reg', eventNotificationConfigs: [{ pubsubTopicName: T('nowhere') }] } });
    assert.equal(reg.eventNotificationConfigs[0]!.pubsubTopicName, T('nowhere'));
  });

  it("a topic of another project takes pubsub.topics.publish on it; the registry's own project's topics ride on the registry permission", async () => {
    const store = new MemoryStore();
    const email = 'iot-editor@p.iam.gserviceaccount.com';
    await store.setProjectIamPolicy('p', { version: 1, bindings: [{ role: 'roles/cloudiot.editor', members: [`serviceAccount:${email}`] }] }, undefined);
    const sa: Principal = { kind: 'service-account', email, project: 'p' };
    const credentials = { authenticateJwt: async () => sa as never, authenticateAccessToken: () => undefined, requireUsableKey: async () => undefined };
    const topics = recordingTopics();
    const admin = new DeviceAdmin(store, new NodeKeyInspector(), { now: () => Date.now() }, { publish: async () => undefined }, { send: async () => undefined }, new ApiAuth('token', { credentials, policies: store }), topics);
    const foreign = 'projects/victim/topics/intake';
    await assert.rejects(
      admin.createDeviceRegistry(sa, { parent, deviceRegistry: { id: 'reg-x', eventNotificationConfigs: [{ pubsubTopicName: foreign }] } }),
      (e: unknown) => e instanceof ApiError && e.kind === 'PERMISSION_DENIED' && e.message.includes(foreign),
    );
    await admin.createDeviceRegistry(sa, { parent, deviceRegistry: { id: 'reg', eventNotificationConfigs: [{ pubsubTopicName: T('events') }] } });
    await assert.rejects(
      admin.updateDeviceRegistry(sa, { name: `${parent}/registries/reg`, deviceRegistry: { stateNotificationConfig: { pubsubTopicName: foreign } }, updateMask: ['state_notification_config'] }),
      (e: unknown) => e instanceof ApiError && e.kind === 'PERMISSION_DENIED',
    );
    assert.deepEqual(topics.calls, [[T('events')]], 'no topic was made in the other project');
    // The admin routes there; the account may then change the registry's other settings.
    await admin.updateDeviceRegistry(ADMIN, { name: `${parent}/registries/reg`, deviceRegistry: { stateNotificationConfig: { pubsubTopicName: foreign } }, updateMask: ['state_notification_config'] });
    await admin.updateDeviceRegistry(sa, {
      name: `${parent}/registries/reg`,
      deviceRegistry: { eventNotificationConfigs: [{ pubsubTopicName: T('other') }], stateNotificationConfig: { pubsubTopicName: foreign } },
      updateMask: ['event_notification_configs', 'state_notification_config'],
    });
  });
});
