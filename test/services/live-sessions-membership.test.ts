import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { LocalBus } from '../../src/adapters/bus/local-bus.js';
import { ApiError } from '../../src/domain/errors.js';
import type { Device } from '../../src/domain/model.js';
import { LiveSessions } from '../../src/services/live-sessions.js';
import type { Bus } from '../../src/services/ports.js';
import { configV1, deviceInput } from '../support/devices.js';
import { FakeSession } from '../support/fake-live-session.js';
import { ManualTime, settle } from '../support/manual-time.js';

const KEY = { project: 'p', location: 'l', registry: 'r' };
const device = (numId: string): Device => ({ ...deviceInput(KEY, `dev-${numId}`, configV1(0)), numId, revision: 1 });

const HEARTBEAT_MS = 2000;
const NODE_TIMEOUT_MS = 6000;

function node(bus: Bus, nodeId: string, time: ManualTime): { live: LiveSessions; gone: [string, number][] } {
  const gone: [string, number][] = [];
  const live = new LiveSessions({
    nodeId,
    bus,
    store: { getDeviceByNumId: async () => undefined, isBound: async () => true },
    registries: { refresh: async () => {} },
    clock: time,
    timers: time,
    heartbeatMs: HEARTBEAT_MS,
    nodeTimeoutMs: NODE_TIMEOUT_MS,
    onNodeGone: (n, sessions) => gone.push([n, sessions]),
    log: pino({ level: 'silent' }),
    remoteCommandTimeoutMs: 500,
  });
  live.start();
  return { live, gone };
}

const rejectsWithReason = (p: Promise<unknown>, reason: string): Promise<void> =>
  assert.rejects(p, (e: unknown) => e instanceof ApiError && e.kind === 'FAILED_PRECONDITION' && e.reason === reason);

describe('LiveSessions membership', () => {
  it('a node that stops sending heartbeats is forgotten with its sessions, nodeTimeoutMs after it was last heard', async () => {
    const time = new ManualTime();
    const bus = new LocalBus();
    const a = node(bus, 'a', time);
    const b = node(bus, 'b', time);
    b.live.claim('1', new FakeSession());
    b.live.claim('2', new FakeSession({ gateway: 'gw' }));
    await settle();
    assert.deepEqual(a.live.liveNodes(), ['b']);
    assert.equal(a.live.isConnected('1'), true);

    // Heartbeats keep a live node a member however long it lives.
    await time.advance(10 * NODE_TIMEOUT_MS);
    assert.equal(a.live.isConnected('1'), true);
    assert.deepEqual(a.gone, []);

    // B's last heartbeat went out now; it falls silent.
    b.live.close();
    await time.advance(NODE_TIMEOUT_MS - 1);
    assert.equal(a.live.isConnected('2'), true, 'forgotten before nodeTimeoutMs');
    await time.advance(1);
    assert.deepEqual(a.gone, [['b', 2]]);
    assert.equal(a.live.isConnected('1'), false);
    assert.equal(a.live.isConnected('2'), false);
    assert.deepEqual(a.live.liveNodes(), []);
    await rejectsWithReason(a.live.send(device('1'), new Uint8Array([1]), ''), 'DEVICE_NOT_CONNECTED');

    a.live.close();
    assert.equal(time.pending, 0, 'a closed node leaves no timer behind');
  });

  it('a node heard from again after it was forgotten is a member again', async () => {
    const time = new ManualTime();
    const bus = new LocalBus();
    const a = node(bus, 'a', time);
    await bus.publish({ type: 'node-heartbeat', nodeId: 'x', at: time.now(), incarnation: 'x1' });
    await settle();
    assert.deepEqual(a.live.liveNodes(), ['x']);
    await time.advance(NODE_TIMEOUT_MS);
    assert.deepEqual(a.live.liveNodes(), []);
    await bus.publish({ type: 'session-claimed', numId: '5', nodeId: 'x', at: time.now() });
    await settle();
    assert.deepEqual(a.live.liveNodes(), ['x']);
    assert.equal(a.live.isConnected('5'), true);
    a.live.close();
  });

  it('a node started after a device connected elsewhere still reaches it: every live node is asked', async () => {
    const time = new ManualTime();
    const bus = new LocalBus();
    const a = node(bus, 'a', time);
    const onA = new FakeSession();
    a.live.claim('1', onA);
    a.live.claim('2', new FakeSession({ subscribed: false }));
    await settle();

    const late = node(bus, 'late', time);
    // Its first heartbeat is answered at once: it knows A without waiting a beat.
    await settle();
    assert.deepEqual(late.live.liveNodes(), ['a']);
    assert.equal(late.live.isConnected('1'), false, 'the late node never saw the claim');

    await late.live.send(device('1'), new Uint8Array([4, 2]), 'sub');
    assert.deepEqual(onA.commands, [['1', 'sub', [4, 2]]]);
    assert.equal(late.live.isConnected('1'), true, 'the answer tells where the device is');
    await rejectsWithReason(late.live.send(device('2'), new Uint8Array([1]), ''), 'DEVICE_NOT_SUBSCRIBED');
    await rejectsWithReason(late.live.send(device('3'), new Uint8Array([1]), ''), 'DEVICE_NOT_CONNECTED');
    a.live.close();
    late.live.close();
  });

  it('a location that went stale (the node named holds nothing) is corrected by asking every node', async () => {
    const time = new ManualTime();
    const bus = new LocalBus();
    const a = node(bus, 'a', time);
    const b = node(bus, 'b', time);
    const onA = new FakeSession();
    a.live.claim('1', onA);
    await settle();
    // B hears of a claim by a node with nothing at its address, older than A's (A keeps its session).
    await bus.publish({ type: 'session-claimed', numId: '1', nodeId: 'ghost', at: time.now() - 1 });
    await settle();
    assert.deepEqual(onA.ended, []);
    await b.live.send(device('1'), new Uint8Array([9]), '');
    assert.deepEqual(onA.commands, [['1', '', [9]]]);
    a.live.close();
    b.live.close();
  });

  it("a gateway's attached device moves between nodes like a direct one, both ways", async () => {
    const time = new ManualTime();
    const bus = new LocalBus();
    const a = node(bus, 'a', time);
    const b = node(bus, 'b', time);
    const attachedOnA = new FakeSession({ gateway: 'gw-1' });
    a.live.claim('2', attachedOnA);
    const directOnA = new FakeSession();
    a.live.claim('3', directOnA);
    await settle();
    await time.advance(1);
    const directOnB = new FakeSession();
    b.live.claim('2', directOnB);
    const attachedOnB = new FakeSession({ gateway: 'gw-2' });
    b.live.claim('3', attachedOnB);
    await settle();
    assert.deepEqual(attachedOnA.ended, [['2', 'session-taken-over']]);
    assert.deepEqual(directOnA.ended, [['3', 'session-taken-over']]);
    assert.deepEqual([directOnB.ended, attachedOnB.ended], [[], []]);
    assert.equal(a.live.isConnected('3'), true, 'A knows the device is on B now');
    await a.live.send(device('3'), new Uint8Array([1]), '');
    assert.equal(attachedOnB.commands.length, 1);
    a.live.close();
    b.live.close();
  });

  it('without timers a node takes no part in membership (one node): no heartbeat, no timer', async () => {
    const bus = new LocalBus();
    let events = 0;
    bus.subscribe(() => events++);
    const live = new LiveSessions({
      nodeId: 'solo',
      bus,
      store: { getDeviceByNumId: async () => undefined, isBound: async () => true },
      registries: { refresh: async () => {} },
      clock: { now: () => 1 },
      log: pino({ level: 'silent' }),
      remoteCommandTimeoutMs: 500,
    });
    live.start();
    await bus.publish({ type: 'node-heartbeat', nodeId: 'other', at: 1, incarnation: 'o1' });
    await settle();
    assert.equal(events, 1);
    assert.deepEqual(live.liveNodes(), []);
    live.close();
  });

  it('a heartbeat under this node ID from another process is reported once, as a configuration error', async () => {
    const time = new ManualTime();
    const bus = new LocalBus();
    const lines: string[] = [];
    const live = new LiveSessions({
      nodeId: 'a',
      bus,
      store: { getDeviceByNumId: async () => undefined, isBound: async () => true },
      registries: { refresh: async () => {} },
      clock: time,
      timers: time,
      log: pino({ level: 'error' }, { write: (l: string) => void lines.push(l) }),
      remoteCommandTimeoutMs: 500,
    });
    live.start();
    // Its own heartbeats come back to it: not a duplicate.
    await time.advance(3 * HEARTBEAT_MS);
    assert.deepEqual(lines, []);
    await bus.publish({ type: 'node-heartbeat', nodeId: 'a', at: time.now(), incarnation: 'someone-else' });
    await bus.publish({ type: 'node-heartbeat', nodeId: 'a', at: time.now(), incarnation: 'someone-else' });
    await settle();
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /another node runs with this node ID/);
    assert.deepEqual(live.liveNodes(), []);
    live.close();
  });
});
