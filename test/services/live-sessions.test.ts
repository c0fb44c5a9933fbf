import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { LocalBus } from '../../src/adapters/bus/local-bus.js';
import { ApiError } from '../../src/domain/errors.js';
import type { Device } from '../../src/domain/model.js';
import { LiveSessions } from '../../src/services/live-sessions.js';
import type { Bus } from '../../src/services/ports.js';
import type { EndReason, LiveSession } from '../../src/services/session-directory.js';
import { configV1, deviceInput } from '../support/devices.js';

const KEY = { project: 'p', location: 'l', registry: 'r' };
const device = (numId: string, credentials: string[] = ['k1']): Device => ({
  ...deviceInput(KEY, `dev-${numId}`, configV1(0)),
  numId,
  revision: 1,
  credentials: credentials.map((key) => ({ format: 'ES256_PEM' as const, key, expirationTime: 0 })),
});

/** A session as a bridge would register it, recording what LiveSessions asks of it. */
class FakeSession implements LiveSession {
  readonly ended: [string, EndReason][] = [];
  readonly configs: string[] = [];
  readonly commands: [string, string, number[]][] = [];
  constructor(
    private readonly opts: { subscribed?: boolean; gateway?: string; credential?: string } = {},
  ) {}
  end(numId: string, reason: EndReason): void {
    this.ended.push([numId, reason]);
  }
  configUpdated(numId: string): void {
    this.configs.push(numId);
  }
  async sendCommand(numId: string, subfolder: string, data: Uint8Array): Promise<boolean> {
    this.commands.push([numId, subfolder, [...data]]);
    return this.opts.subscribed ?? true;
  }
  credentialKey(): string | undefined {
    return this.opts.credential;
  }
  gatewayNumId(): string | undefined {
    return this.opts.gateway;
  }
}

/** Lets every microtask and already-due timer run: bus deliveries are asynchronous by contract. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

function node(bus: Bus, nodeId: string, devices: Map<string, Device>, now: () => number = () => 1000): { live: LiveSessions; refreshed: string[] } {
  const refreshed: string[] = [];
  const live = new LiveSessions({
    nodeId,
    bus,
    store: { getDeviceByNumId: async (n) => devices.get(n), isBound: async () => true },
    registries: {
      refresh: async (name) => {
        refreshed.push(name);
      },
    },
    clock: { now },
    log: pino({ level: 'silent' }),
    remoteCommandTimeoutMs: 500,
  });
  live.start();
  return { live, refreshed };
}

const rejectsWithReason = (p: Promise<unknown>, reason: string): Promise<void> =>
  assert.rejects(p, (e: unknown) => e instanceof ApiError && e.kind === 'FAILED_PRECONDITION' && e.reason === reason);

describe('LiveSessions on one node', () => {
  it('a claim ends the previous holder with session-taken-over; release only by the holder', () => {
    const { live } = node(new LocalBus(), 'a', new Map());
    const first = new FakeSession();
    const second = new FakeSession();
    live.claim('1', first);
    live.claim('1', second);
    assert.deepEqual(first.ended, [['1', 'session-taken-over']]);
    assert.equal(live.holds('1', second), true);
    live.release('1', first);
    assert.equal(live.holds('1', second), true, 'the replaced session must not release the new one');
    live.release('1', second);
    assert.equal(live.isConnected('1'), false);
  });

  it('bus events reach the holder: block, delete, config, unbind of its gateway only, registry refresh', async () => {
    const bus = new LocalBus();
    const { live, refreshed } = node(bus, 'a', new Map());
    const direct = new FakeSession();
    const attached = new FakeSession({ gateway: 'gw-1' });
    live.claim('1', direct);
    live.claim('2', attached);
    await bus.publish({ type: 'config-updated', numId: '1', version: 3 });
    await bus.publish({ type: 'device-unbound', numId: '2', gatewayNumId: 'other-gw' });
    await bus.publish({ type: 'device-blocked', numId: '1' });
    await bus.publish({ type: 'device-unbound', numId: '2', gatewayNumId: 'gw-1' });
    await bus.publish({ type: 'registry-changed', registryName: 'projects/p/locations/l/registries/r' });
    await bus.publish({ type: 'device-deleted', numId: '9' });
    await settle();
    assert.deepEqual(direct.configs, ['1']);
    assert.deepEqual(direct.ended, [['1', 'device-blocked']]);
    assert.deepEqual(attached.ended, [['2', 'device-unbound']]);
    assert.deepEqual(refreshed, ['projects/p/locations/l/registries/r']);
  });

  it('a credential change ends the session only when its own credential was removed (C-MQTT-REVOKE)', async () => {
    const bus = new LocalBus();
    const devices = new Map([['1', device('1', ['k1', 'k2'])]]);
    const { live } = node(bus, 'a', devices);
    const session = new FakeSession({ credential: 'k1' });
    live.claim('1', session);
    devices.set('1', device('1', ['k1']));
    await bus.publish({ type: 'device-credentials-changed', numId: '1' });
    await settle();
    assert.deepEqual(session.ended, []);
    devices.set('1', device('1', ['k2']));
    await bus.publish({ type: 'device-credentials-changed', numId: '1' });
    await settle();
    assert.deepEqual(session.ended, [['1', 'credentials-changed']]);
  });

  it('unchangedSince: only events that may end a session (of any device) move the revocation mark (C-MQTT-REVOKE)', async () => {
    const bus = new LocalBus();
    const { live } = node(bus, 'a', new Map());
    const mark = live.revocationMark();
    await bus.publish({ type: 'config-updated', numId: '1', version: 3 });
    await bus.publish({ type: 'registry-changed', registryName: 'projects/p/locations/l/registries/r' });
    await bus.publish({ type: 'session-claimed', numId: '5', nodeId: 'b', at: 1 });
    await settle();
    assert.equal(live.unchangedSince(mark), true, 'config, registry and session events are not revocations');
    for (const e of [
      { type: 'device-blocked', numId: '7' },
      { type: 'device-deleted', numId: '7' },
      { type: 'device-credentials-changed', numId: '7' },
      { type: 'device-unbound', numId: '7', gatewayNumId: 'gw' },
    ] as const) {
      const before = live.revocationMark();
      await bus.publish(e);
      await settle();
      assert.equal(live.unchangedSince(before), false, e.type);
      assert.equal(live.unchangedSince(live.revocationMark()), true);
    }
  });

  it('a node alone on its bus (announceSessions false) publishes no claims or releases, and still ends on block', async () => {
    const bus = new LocalBus();
    const published: string[] = [];
    const counting: Bus = Object.assign(Object.create(bus) as LocalBus, {
      publish: (e: Parameters<Bus['publish']>[0]) => {
        published.push(e.type);
        return bus.publish(e);
      },
    });
    const live = new LiveSessions({
      nodeId: 'solo',
      bus: counting,
      store: { getDeviceByNumId: async () => undefined, isBound: async () => true },
      registries: { refresh: async () => undefined },
      clock: { now: () => 1000 },
      log: pino({ level: 'silent' }),
      remoteCommandTimeoutMs: 500,
      announceSessions: false,
    });
    live.start();
    const session = new FakeSession();
    live.claim('1', session);
    live.release('1', session);
    live.claim('1', session);
    assert.deepEqual(published, []);
    await bus.publish({ type: 'device-blocked', numId: '1' });
    await settle();
    assert.deepEqual(session.ended, [['1', 'device-blocked']]);
    live.close();
  });

  it('commands: not connected, not subscribed, delivered', async () => {
    const { live } = node(new LocalBus(), 'a', new Map());
    await rejectsWithReason(live.send(device('1'), new Uint8Array([1]), ''), 'DEVICE_NOT_CONNECTED');
    live.claim('1', new FakeSession({ subscribed: false }));
    await rejectsWithReason(live.send(device('1'), new Uint8Array([1]), 'sub'), 'DEVICE_NOT_SUBSCRIBED');
    const ok = new FakeSession();
    live.claim('1', ok);
    await live.send(device('1'), new Uint8Array([7]), 'sub');
    assert.deepEqual(ok.commands, [['1', 'sub', [7]]]);
  });
});

describe('LiveSessions across two nodes sharing a bus', () => {
  it('a device connecting to node B takes over its session on node A', async () => {
    const bus = new LocalBus();
    let t = 1000;
    const a = node(bus, 'a', new Map(), () => t);
    const b = node(bus, 'b', new Map(), () => t);
    const onA = new FakeSession();
    a.live.claim('1', onA);
    await settle();
    assert.equal(b.live.isConnected('1'), true, 'B knows the device is connected on A');
    t = 2000;
    const onB = new FakeSession();
    b.live.claim('1', onB);
    await settle();
    assert.deepEqual(onA.ended, [['1', 'session-taken-over']]);
    assert.deepEqual(onB.ended, []);
    assert.equal(b.live.holds('1', onB), true);
  });

  it('a late claim event from an older session does not end the newer one', async () => {
    const bus = new LocalBus();
    const b = node(bus, 'b', new Map(), () => 2000);
    const onB = new FakeSession();
    b.live.claim('1', onB);
    await bus.publish({ type: 'session-claimed', numId: '1', nodeId: 'a', at: 1000 });
    await settle();
    assert.deepEqual(onB.ended, []);
  });

  it('a command sent through node A reaches the device on node B, with its outcome', async () => {
    const bus = new LocalBus();
    const a = node(bus, 'a', new Map());
    const b = node(bus, 'b', new Map());
    const onB = new FakeSession();
    b.live.claim('1', onB);
    await settle();
    await a.live.send(device('1'), new Uint8Array([1, 2]), 'x');
    assert.deepEqual(onB.commands, [['1', 'x', [1, 2]]]);
    b.live.claim('2', new FakeSession({ subscribed: false }));
    await settle();
    await rejectsWithReason(a.live.send(device('2'), new Uint8Array([1]), ''), 'DEVICE_NOT_SUBSCRIBED');
    b.live.release('1', onB);
    await settle();
    await rejectsWithReason(a.live.send(device('1'), new Uint8Array([1]), ''), 'DEVICE_NOT_CONNECTED');
  });

  it('a node that stopped answering: the device counts as not connected', async () => {
    const bus = new LocalBus();
    const a = node(bus, 'a', new Map());
    const b = node(bus, 'b', new Map());
    b.live.claim('1', new FakeSession());
    await settle();
    b.live.close();
    await rejectsWithReason(a.live.send(device('1'), new Uint8Array([1]), ''), 'DEVICE_NOT_CONNECTED');
    assert.equal(a.live.isConnected('1'), false);
  });
});
