import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ActivityRecorder } from '../../src/services/activity-recorder.js';
import { DeviceIngress, type StoredTarget } from '../../src/services/device-ingress.js';
import type { Sink, SinkMessage } from '../../src/services/ports.js';

const T1 = 'projects/proj/topics/one';
const T2 = 'projects/proj/topics/two';

/** A sink whose one pending append the test settles. */
function manualSink(): Sink & { appended: SinkMessage[][]; settle(error?: Error): void } {
  let pending: { resolve: (ids: string[]) => void; reject: (e: Error) => void; n: number } | undefined;
  return {
    appended: [],
    append(messages) {
      this.appended.push([...messages]);
      return new Promise<string[]>((resolve, reject) => (pending = { resolve, reject, n: messages.length }));
    },
    saturated: () => false,
    onDrain: () => undefined,
    close: async () => undefined,
    settle(error) {
      assert.ok(pending, 'an append to settle');
      const p = pending;
      pending = undefined;
      if (error) p.reject(error);
      else p.resolve(Array.from({ length: p.n }, (_, i) => String(i + 1)));
    },
  };
}

class RecordingActivity extends ActivityRecorder {
  readonly events: [string, number][] = [];
  override event(numId: string, at: number): void {
    this.events.push([numId, at]);
  }
}

/** Every call a target gets: its name, the tokens of the run and the error. */
type Call = [string, number[], unknown];

function target(name: string, calls: Call[], fail = false): StoredTarget {
  return {
    stored(tokens, from, to, error) {
      calls.push([name, tokens.slice(from, to), error]);
      if (fail) throw new Error(`${name} failed`);
    },
  };
}

const settled = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup() {
  const sink = manualSink();
  const store = new MemoryStore();
  const activity = new RecordingActivity(store);
  const ingress = new DeviceIngress(sink, store, activity);
  const calls: Call[] = [];
  return { sink, activity, ingress, calls, data: new Uint8Array([1]) };
}

describe('DeviceIngress: one call per run of a target’s messages', () => {
  it('tells each target its tokens in submission order, one call per run of one device and topic', async () => {
    const { sink, activity, ingress, calls, data } = setup();
    const a = target('a', calls);
    const b = target('b', calls);
    // One synchronous run, as the packets of a socket read (a gateway's devices share its target).
    ingress.submitEvent('1', T1, {}, data, 10, a, 1);
    ingress.submitEvent('1', T1, {}, data, 11, a, 2);
    ingress.submitEvent('2', T1, {}, data, 12, b, 7);
    ingress.submitEvent('1', T1, {}, data, 13, a, 3);
    ingress.submitEvent('1', T2, {}, data, 14, a, 4);
    ingress.submitEvent('3', T2, {}, data, 15, a, 0);
    ingress.submitEvent('2', T1, {}, data, 16, b, 8);
    await settled();
    assert.equal(sink.appended.length, 1, 'one append for the run');
    assert.deepEqual(
      sink.appended[0]!.map((m) => [m.topic, m.publishTime]),
      [10, 11, 12, 13, 14, 15, 16].map((t) => [t <= 13 || t === 16 ? T1 : T2, t]),
    );
    assert.deepEqual(calls, [], 'nothing is told before the commit');
    sink.settle();
    await settled();
    assert.deepEqual(calls, [
      ['a', [1, 2], undefined],
      ['b', [7], undefined],
      ['a', [3], undefined],
      ['a', [4], undefined],
      ['a', [0], undefined],
      ['b', [8], undefined],
    ]);
    // One activity note per run of a device, with the run's latest time.
    assert.deepEqual(activity.events, [
      ['1', 11],
      ['2', 12],
      ['1', 14],
      ['3', 15],
      ['2', 16],
    ]);
  });

  it('the reads of one turn of the event loop go to the sink in one append', async () => {
    const { sink, ingress, calls, data } = setup();
    // Two socket reads in one poll: each handler runs to its end, microtasks run in between.
    ingress.submitEvent('1', T1, {}, data, 1, target('a', calls), 1);
    await Promise.resolve();
    ingress.submitEvent('2', T1, {}, data, 2, target('b', calls), 2);
    await settled();
    assert.deepEqual(
      sink.appended.map((batch) => batch.length),
      [2],
    );
    sink.settle();
    await settled();
    assert.deepEqual(calls, [
      ['a', [1], undefined],
      ['b', [2], undefined],
    ]);
  });

  it('a failed append tells every run its error, and a target that throws keeps the others told', async () => {
    const { sink, ingress, calls, data } = setup();
    ingress.submitEvent('1', T1, {}, data, 1, target('a', calls, true), 5);
    ingress.submitEvent('2', T1, {}, data, 2, target('b', calls), 6);
    ingress.submitEvent('2', T1, {}, data, 3, target('b', calls), 9);
    await settled();
    const failure = new Error('disk full');
    sink.settle(failure);
    await settled();
    assert.deepEqual(calls, [
      ['a', [5], failure],
      ['b', [6], failure],
      ['b', [9], failure],
    ]);
  });
});
