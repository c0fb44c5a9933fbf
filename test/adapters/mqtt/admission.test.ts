import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { AdmissionQueue } from '../../../src/adapters/mqtt/admission.js';

/**
 * The admission queue (docs/compat.md C-MQTT-ADMISSION): new sockets are let in a few per turn of
 * the event loop, in order; one that waited too long is closed instead; a failure to let one in
 * closes that one only.
 */

const sockets = (n: number): Socket[] =>
  Array.from({ length: n }, () => new Duplex({ read() {}, write(_c, _e, cb) { cb(); } }) as unknown as Socket);

describe('AdmissionQueue', () => {
  test('lets sockets in, in order, at most perTurn per turn of the event loop', async () => {
    const admitted: number[] = [];
    const q = new AdmissionQueue(3, 10_000, 0, () => assert.fail('nothing is shed'), () => assert.fail('nothing fails'));
    const all = sockets(8);
    all.forEach((s) => q.enqueue(s, (x) => admitted.push(all.indexOf(x))));
    assert.deepEqual(admitted, [], 'nothing synchronously');
    const perTurn: number[] = [];
    while (admitted.length < 8) {
      const before = admitted.length;
      await nextTurn();
      perTurn.push(admitted.length - before);
    }
    assert.deepEqual(admitted, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.ok(perTurn.every((n) => n <= 3), JSON.stringify(perTurn));
    assert.equal(q.waiting, 0);
  });

  test('a socket that waited longer than maxWaitMs is closed, not let in; one closed meanwhile is skipped', async () => {
    let shed = 0;
    const admitted: Socket[] = [];
    let clock = 0;
    const q = new AdmissionQueue(1, 20, 0, () => shed++, () => assert.fail('nothing fails'), () => clock);
    const [gone, ...rest] = sockets(4);
    q.enqueue(gone!, (s) => admitted.push(s));
    gone!.destroy();
    for (const s of rest) q.enqueue(s, (x) => admitted.push(x));
    // The queue's first turn comes after maxWaitMs.
    clock = 40;
    await nextTurn();
    assert.deepEqual(admitted, []);
    assert.equal(shed, 3);
    assert.ok(rest.every((s) => s.destroyed));
  });

  test('a socket whose admission throws is closed; the next one is still let in; clear() closes the waiting ones', async () => {
    const failures: unknown[] = [];
    const admitted: Socket[] = [];
    const q = new AdmissionQueue(1, 10_000, 0, () => undefined, (err) => failures.push(err));
    const [bad, good, waiting] = sockets(3);
    q.enqueue(bad!, () => {
      throw new Error('injected fault');
    });
    q.enqueue(good!, (s) => admitted.push(s));
    await nextTurn();
    await nextTurn();
    assert.equal(bad!.destroyed, true);
    assert.equal(failures.length, 1);
    assert.deepEqual(admitted, [good]);
    q.enqueue(waiting!, () => assert.fail('cleared before its turn'));
    q.clear();
    assert.equal(waiting!.destroyed, true);
    await nextTurn();
  });

  test('perSecond caps sockets let in per second: a hundredth of a second worth at once, the rest as tokens come back', async () => {
    let clock = 0;
    const admitted: Socket[] = [];
    let shed = 0;
    const q = new AdmissionQueue(8, 1000, 1000, () => shed++, () => assert.fail('nothing fails'), () => clock);
    const all = sockets(30);
    for (const s of all) q.enqueue(s, (x) => admitted.push(x));
    for (let i = 0; i < 5; i++) await nextTurn();
    assert.equal(admitted.length, 10, 'the burst: 1,000/s ÷ 100');
    clock = 5;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(admitted.length, 15, '5 ms later, 5 more tokens');
    assert.deepEqual(admitted, all.slice(0, 15), 'in order');
    // The rest waited past maxWaitMs: shed, not let in.
    clock = 2000;
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(admitted.length, 15);
    assert.equal(shed, 15);
    assert.equal(q.waiting, 0);
  });
});
