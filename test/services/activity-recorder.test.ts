import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ActivityRecorder } from '../../src/services/activity-recorder.js';
import type { ActivityPatch } from '../../src/services/ports.js';
import { configV1, deviceInput } from '../support/devices.js';

/** Device timestamps are coalesced in memory and written in one store call (docs/compat.md C-ACTIVITY). */
describe('ActivityRecorder', () => {
  const setup = async (): Promise<{ store: MemoryStore; numId: string }> => {
    const store = new MemoryStore();
    const key = { project: 'p', location: 'l', registry: 'reg' };
    await store.createRegistry({
      ...key,
      eventNotificationConfigs: [],
      stateNotificationConfig: undefined,
      mqttEnabledState: undefined,
      httpEnabledState: undefined,
      logLevel: 'LOG_LEVEL_UNSPECIFIED',
      credentials: [],
    });
    const d = await store.createDevice(deviceInput(key, 'dev-1', configV1(1)));
    return { store, numId: d.numId };
  };

  test('many notes about one device cost one write, with the latest of each', async () => {
    const { store, numId } = await setup();
    const writes: number[] = [];
    const real = store.recordActivity.bind(store);
    store.recordActivity = async (m: ReadonlyMap<string, ActivityPatch>) => {
      writes.push(m.size);
      return real(m);
    };
    const a = new ActivityRecorder(store);
    for (let t = 10; t <= 50; t += 10) a.event(numId, t);
    a.heartbeat(numId, 7);
    await a.flush();
    assert.deepEqual(writes, [1]);
    const d = await store.getDeviceByNumId(numId);
    assert.equal(d?.lastEventTime, 50);
    assert.equal(d?.lastHeartbeatTime, 7);
    await a.flush();
    assert.deepEqual(writes, [1], 'nothing new, no write');
  });

  test('a failed write keeps its notes for the next flush; newer notes win', async () => {
    const { store, numId } = await setup();
    const real = store.recordActivity.bind(store);
    let fail = true;
    store.recordActivity = async (m: ReadonlyMap<string, ActivityPatch>) => {
      if (fail) throw new Error('disk full');
      return real(m);
    };
    const a = new ActivityRecorder(store);
    a.event(numId, 100);
    a.heartbeat(numId, 100);
    await assert.rejects(a.flush(), /disk full/);
    a.event(numId, 200);
    fail = false;
    await a.flush();
    const d = await store.getDeviceByNumId(numId);
    assert.equal(d?.lastEventTime, 200, 'the newer note wins');
    assert.equal(d?.lastHeartbeatTime, 100, 'the note of the failed write is not lost');
  });
});
