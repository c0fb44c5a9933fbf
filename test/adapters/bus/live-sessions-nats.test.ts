import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { NatsBus } from '../../../src/adapters/bus/nats-bus.js';
import { systemClock, systemTimers } from '../../../src/adapters/timers/system-timers.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { Device } from '../../../src/domain/model.js';
import { LiveSessions } from '../../../src/services/live-sessions.js';
import type { Bus, BusEvent } from '../../../src/services/ports.js';
import { configV1, deviceInput } from '../../support/devices.js';
import { FakeSession } from '../../support/fake-live-session.js';
import { startNats, type TestNats } from '../../support/nats.js';

/**
 * LiveSessions of several nodes over NatsBus clients of one real nats-server: what the cluster
 * needs of the session directory, in real time with short heartbeats.
 */

const HEARTBEAT_MS = 200;
const NODE_TIMEOUT_MS = 600;
const KEY = { project: 'p', location: 'l', registry: 'r' };
const device = (numId: string): Device => ({ ...deviceInput(KEY, `dev-${numId}`, configV1(0)), numId, revision: 1 });

let nats: TestNats;
let prefixes = 0;
before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats.cleanup();
});

interface TestNode {
  bus: NatsBus;
  live: LiveSessions;
  gone: Promise<[string, number]>;
  close(): Promise<void>;
}

/** Connects a node's bus; its LiveSessions starts only on `start`, so a test can listen first. */
async function connectNode(nodeId: string, prefix: string): Promise<TestNode & { start(): void }> {
  const bus = await NatsBus.connect({ servers: nats.url, prefix, name: nodeId });
  let reportGone: (g: [string, number]) => void = () => {};
  const gone = new Promise<[string, number]>((resolve) => (reportGone = resolve));
  const live = new LiveSessions({
    nodeId,
    bus,
    store: { getDeviceByNumId: async () => undefined, isBound: async () => true },
    registries: { refresh: async () => {} },
    clock: systemClock,
    timers: systemTimers,
    heartbeatMs: HEARTBEAT_MS,
    nodeTimeoutMs: NODE_TIMEOUT_MS,
    onNodeGone: (n, sessions) => reportGone([n, sessions]),
    log: pino({ level: 'silent' }),
    remoteCommandTimeoutMs: 2000,
  });
  return {
    bus,
    live,
    gone,
    start: () => live.start(),
    close: async () => {
      live.close();
      await bus.close();
    },
  };
}

async function startNode(nodeId: string, prefix: string): Promise<TestNode> {
  const n = await connectNode(nodeId, prefix);
  n.start();
  return n;
}

/**
 * Resolves when `bus` delivers an event matching `match`. Subscribed after the node's
 * LiveSessions, so by then the node has handled it (one dispatch runs handlers in order).
 */
function heard(bus: Bus, match: (e: BusEvent) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const stop = bus.subscribe((e) => {
      if (!match(e)) return;
      stop();
      resolve();
    });
  });
}

const claimOf = (numId: string, nodeId: string) => (e: BusEvent) => e.type === 'session-claimed' && e.numId === numId && e.nodeId === nodeId;

const rejectsWithReason = (p: Promise<unknown>, reason: string): Promise<void> =>
  assert.rejects(p, (e: unknown) => e instanceof ApiError && e.kind === 'FAILED_PRECONDITION' && e.reason === reason);

describe('LiveSessions over NATS (two and three nodes, one nats-server)', () => {
  it('a command sent through B reaches the session on A: when B heard the claim, and when B started after it', async () => {
    const prefix = `ls${prefixes++}`;
    const a = await startNode('a', prefix);
    const b = await startNode('b', prefix);
    let late: TestNode | undefined;
    try {
      const onA = new FakeSession();
      const bHeard = heard(b.bus, claimOf('1', 'a'));
      a.live.claim('1', onA);
      await bHeard;
      await b.live.send(device('1'), new Uint8Array([1, 2, 255]), 'x');
      assert.deepEqual(onA.commands, [['1', 'x', [1, 2, 255]]]);

      const c = await connectNode('late', prefix);
      late = c;
      const knowsA = heard(c.bus, (e) => e.type === 'node-heartbeat' && e.nodeId === 'a');
      c.start();
      await knowsA;
      assert.equal(c.live.isConnected('1'), false, 'the late node never saw the claim');
      await c.live.send(device('1'), new Uint8Array([7]), '');
      assert.deepEqual(onA.commands[1], ['1', '', [7]]);
      await rejectsWithReason(c.live.send(device('9'), new Uint8Array([1]), ''), 'DEVICE_NOT_CONNECTED');
    } finally {
      await late?.close();
      await a.close();
      await b.close();
    }
  });

  it("a device's new session on B ends its session on A with session-taken-over; commands through A then reach B", async () => {
    const prefix = `ls${prefixes++}`;
    const a = await startNode('a', prefix);
    const b = await startNode('b', prefix);
    try {
      const onA = new FakeSession({ gateway: 'gw-a' });
      const bHeard = heard(b.bus, claimOf('1', 'a'));
      a.live.claim('1', onA);
      await bHeard;
      const onB = new FakeSession();
      const aHeard = heard(a.bus, claimOf('1', 'b'));
      b.live.claim('1', onB);
      await onA.whenEnded();
      await aHeard;
      assert.deepEqual(onA.ended, [['1', 'session-taken-over']]);
      assert.equal(a.live.holds('1', onA), false);
      await a.live.send(device('1'), new Uint8Array([3]), '');
      assert.deepEqual(onB.commands, [['1', '', [3]]]);
      assert.deepEqual(onB.ended, []);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("node A's bus connection closed: its sessions leave B's directory within nodeTimeoutMs", async () => {
    const prefix = `ls${prefixes++}`;
    const a = await startNode('a', prefix);
    const b = await startNode('b', prefix);
    try {
      const bHeard = heard(b.bus, claimOf('2', 'a'));
      a.live.claim('1', new FakeSession());
      a.live.claim('2', new FakeSession({ gateway: 'gw' }));
      await bHeard;
      assert.equal(b.live.isConnected('1'), true);
      const closedAt = Date.now();
      await a.bus.close();
      assert.deepEqual(await b.gone, ['a', 2]);
      const took = Date.now() - closedAt;
      // Last heard at most one beat before the close; timers may fire a little late.
      assert.ok(took >= NODE_TIMEOUT_MS - HEARTBEAT_MS - 50 && took <= NODE_TIMEOUT_MS + 400, `forgotten ${took} ms after the close`);
      assert.equal(b.live.isConnected('1'), false);
      assert.equal(b.live.isConnected('2'), false);
      await rejectsWithReason(b.live.send(device('1'), new Uint8Array([1]), ''), 'DEVICE_NOT_CONNECTED');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('nats-server restarted: the nodes find each other again and commands cross, with nothing re-created', async () => {
    const prefix = `ls${prefixes++}`;
    const a = await startNode('a', prefix);
    const b = await startNode('b', prefix);
    try {
      const onA = new FakeSession();
      const bHeard = heard(b.bus, claimOf('1', 'a'));
      a.live.claim('1', onA);
      await bHeard;
      await nats.stop('kill');
      await nats.start();
      // A heartbeat from A reaching B means both clients are back and subscribed.
      await heard(b.bus, (e) => e.type === 'node-heartbeat' && e.nodeId === 'a');
      await b.live.send(device('1'), new Uint8Array([5]), '');
      assert.deepEqual(onA.commands, [['1', '', [5]]]);
      assert.deepEqual(b.live.liveNodes(), ['a']);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
