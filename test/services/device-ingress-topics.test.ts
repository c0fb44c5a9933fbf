import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ActivityRecorder } from '../../src/services/activity-recorder.js';
import { DeviceIngress, topicMissingStatus, type TopicCheck } from '../../src/services/device-ingress.js';
import type { Sink, SinkMessage } from '../../src/services/ports.js';
import { makeDevice, makeRegistry, regKey } from '../contracts/store-fixtures.js';

const EXISTING = 'projects/proj/topics/events';
const MISSING = 'projects/proj/topics/gone';

/** A sink that commits at once and remembers what it stored. */
function memorySink(): Sink & { stored: SinkMessage[] } {
  const stored: SinkMessage[] = [];
  return {
    stored,
    async append(messages) {
      stored.push(...messages);
      return messages.map((_, i) => String(stored.length - messages.length + i + 1));
    },
    saturated: () => false,
    onDrain: () => undefined,
    close: async () => undefined,
  };
}

async function setup() {
  const store = new MemoryStore();
  const registry = await store.createRegistry(makeRegistry(regKey()));
  const device = await store.createDevice(makeDevice(regKey(), 'dev-1'));
  const activity = new ActivityRecorder(store);
  const sink = memorySink();
  const lookups: string[] = [];
  const topics: TopicCheck = {
    async exists(topic) {
      lookups.push(topic);
      return topic === EXISTING;
    },
  };
  const missing: [string, string][] = [];
  let reported: () => void = () => undefined;
  const reportedOnce = new Promise<void>((resolve) => (reported = resolve));
  const ingress = new DeviceIngress(sink, store, activity, {
    committed: () => undefined,
    topicMissing: (numId, topic) => {
      missing.push([numId, topic]);
      reported();
    },
  }, topics);
  return { store, registry, device, activity, sink, lookups, missing, reportedOnce, ingress };
}

/** Submits one event and resolves once it is stored (what a PUBACK waits for). */
const submit = (ingress: DeviceIngress, numId: string, topic: string, at: number): Promise<unknown> =>
  new Promise((resolve) => ingress.submitEvent(numId, topic, { deviceId: 'dev-1' }, new Uint8Array([1]), at, { stored: (_t, _f, _to, e) => resolve(e) }, 1));

/** spec §8.3, docs/compat.md C-PS-AUTO-TOPICS: a missing topic is the device's error, not a lost PUBACK. */
describe('DeviceIngress: messages routed to a missing Pub/Sub topic', { timeout: 10_000 }, () => {
  it('are stored and acknowledged, and the device records NOT_FOUND naming the topic', async () => {
    const t = await setup();
    assert.equal(await submit(t.ingress, t.device.numId, MISSING, 1000), undefined, 'stored: the PUBACK is not withheld');
    await t.reportedOnce;
    assert.deepEqual(t.missing, [[t.device.numId, MISSING]]);
    await t.activity.flush();
    const device = await t.store.getDeviceByNumId(t.device.numId);
    assert.deepEqual(device?.lastErrorStatus, topicMissingStatus(MISSING));
    assert.equal(device?.lastErrorTime, 1000);
    assert.equal(t.sink.stored.length, 1);
  });

  it('an existing topic records nothing and is not looked up again for every message', async () => {
    const t = await setup();
    await submit(t.ingress, t.device.numId, EXISTING, 1000);
    await submit(t.ingress, t.device.numId, MISSING, 2000);
    await t.reportedOnce;
    await submit(t.ingress, t.device.numId, EXISTING, 3000);
    assert.deepEqual(t.lookups, [EXISTING, MISSING], 'the second message to the existing topic needed no lookup');
    assert.deepEqual(t.missing, [[t.device.numId, MISSING]]);
  });

  it('a state notification to a missing topic is recorded too, the state stored regardless', async () => {
    const t = await setup();
    await t.ingress.state(t.device.numId, { ...t.registry, stateNotificationConfig: { pubsubTopicName: MISSING } }, {}, new Uint8Array([2]), 5000);
    await t.reportedOnce;
    assert.deepEqual(t.missing, [[t.device.numId, MISSING]]);
    assert.equal((await t.store.listStates(t.device.numId, 1)).length, 1);
  });
});
