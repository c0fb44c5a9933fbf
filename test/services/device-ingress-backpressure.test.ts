import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ActivityRecorder } from '../../src/services/activity-recorder.js';
import { DeviceIngress } from '../../src/services/device-ingress.js';
import type { Sink, SinkMessage } from '../../src/services/ports.js';

const TOPIC = 'projects/proj/topics/events';

/**
 * A sink whose saturation the test sets and whose commits it releases one by one; its onDrain
 * (below half the bound) never fires unless the test fires it.
 */
function heldSink(): Sink & { full: boolean; commit(): void; drain(): void } {
  const held: Array<{ messages: readonly SinkMessage[]; resolve: (ids: string[]) => void }> = [];
  const drains: Array<() => void> = [];
  return {
    full: false,
    append(messages) {
      return new Promise<string[]>((resolve) => held.push({ messages, resolve }));
    },
    saturated() {
      return this.full;
    },
    onDrain: (listener) => void drains.push(listener),
    close: async () => undefined,
    commit() {
      const call = held.shift();
      assert.ok(call, 'a batch to commit');
      call.resolve(call.messages.map((_, i) => String(i + 1)));
    },
    drain() {
      for (const d of drains) d();
    },
  };
}

/** Submits one event for `numId`; resolves once it is reported stored. */
const submit = (ingress: DeviceIngress, numId: string): Promise<unknown> =>
  new Promise((resolve) => ingress.submitEvent(numId, TOPIC, { deviceId: numId }, new Uint8Array([1]), 1, { stored: (_t, _f, _to, e) => resolve(e) }, 1));

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('DeviceIngress backpressure', () => {
  it('wakes the readers parked at the bound once a commit leaves the sink below it, not only at its drain', async () => {
    const sink = heldSink();
    const store = new MemoryStore();
    const ingress = new DeviceIngress(sink, store, new ActivityRecorder(store));
    sink.full = true;
    let parkedWoken = 0;
    assert.equal(ingress.holdIfSaturated(() => parkedWoken++), true, 'parked while the sink is at its bound');

    // Another device's batch commits while the queue is still at the bound: nobody wakes.
    const first = submit(ingress, 'other-1');
    await settle();
    sink.commit();
    assert.equal(await first, undefined);
    assert.equal(parkedWoken, 0);

    // Its next batch commits with the queue below the bound (but above the sink's drain mark).
    sink.full = false;
    const second = submit(ingress, 'other-1');
    await settle();
    sink.commit();
    assert.equal(await second, undefined);
    assert.equal(parkedWoken, 1, 'the parked reader was woken by the commit');

    // Woken once: a later drain does not call it again.
    sink.drain();
    assert.equal(parkedWoken, 1);
  });

  it('still wakes the parked readers at the sink drain', () => {
    const sink = heldSink();
    const store = new MemoryStore();
    const ingress = new DeviceIngress(sink, store, new ActivityRecorder(store));
    sink.full = true;
    let woken = 0;
    assert.equal(ingress.holdIfSaturated(() => woken++), true);
    sink.full = false;
    sink.drain();
    assert.equal(woken, 1);
    assert.equal(ingress.holdIfSaturated(() => woken++), false, 'not parked below the bound');
  });
});
