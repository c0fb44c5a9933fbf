import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { LocalBus } from '../../src/adapters/bus/local-bus.js';
import type { Device } from '../../src/domain/model.js';
import { LiveSessions } from '../../src/services/live-sessions.js';
import type { Bus, BusEvent } from '../../src/services/ports.js';
import { configV1, deviceInput } from '../support/devices.js';
import { FakeSession } from '../support/fake-live-session.js';
import { ManualTime, settle } from '../support/manual-time.js';

const KEY = { project: 'p', location: 'l', registry: 'r' };
const device = (numId: string, extra: Partial<Device> = {}): Device => ({ ...deviceInput(KEY, `dev-${numId}`, configV1(0)), numId, revision: 1, ...extra });

const HEARTBEAT_MS = 2000;
const NODE_TIMEOUT_MS = 6000;

/** A bus whose subscriber hears nothing while `deaf`: a NATS subscription that is not there. */
class DeafBus implements Bus {
  deaf = false;
  constructor(private readonly inner: LocalBus) {}
  publish(event: BusEvent): Promise<void> {
    return this.inner.publish(event);
  }
  /** What the subscribers asked to be told of gaps: a networked bus calls these after reconnecting. */
  readonly gapHandlers: (() => void)[] = [];
  subscribe(handler: (e: BusEvent) => void, onGap?: () => void): () => void {
    if (onGap) this.gapHandlers.push(onGap);
    return this.inner.subscribe((e) => {
      if (!this.deaf) handler(e);
    });
  }
  request: Bus['request'] = (...a) => this.inner.request(...a);
  respond: Bus['respond'] = (...a) => this.inner.respond(...a);
  close(): Promise<void> {
    return this.inner.close();
  }
}

class CountingSession extends FakeSession {
  configUpdates = 0;
  override configUpdated(): void {
    this.configUpdates++;
  }
}

function node(bus: Bus, time: ManualTime, devices: Map<string, Device>, bindings = new Set<string>()): LiveSessions {
  const live = new LiveSessions({
    nodeId: 'a',
    bus,
    store: { getDeviceByNumId: async (numId) => devices.get(numId), isBound: async (gw, numId) => bindings.has(`${gw}/${numId}`) },
    registries: { refresh: async () => {} },
    clock: time,
    timers: time,
    heartbeatMs: HEARTBEAT_MS,
    nodeTimeoutMs: NODE_TIMEOUT_MS,
    log: pino({ level: 'silent' }),
    remoteCommandTimeoutMs: 500,
  });
  live.start();
  return live;
}

describe('LiveSessions after a gap in its bus subscription', () => {
  it('hearing its own heartbeat again after nodeTimeoutMs, it rechecks every local session against the store', async () => {
    const time = new ManualTime();
    const bus = new DeafBus(new LocalBus());
    const devices = new Map([
      ['1', device('1')],
      ['2', device('2')],
      ['3', device('3')],
    ]);
    const live = node(bus, time, devices);
    const sessions = ['1', '2', '3'].map((numId) => {
      const s = new CountingSession();
      live.claim(numId, s);
      return s;
    });
    await settle();
    // Heartbeats heard on time are no gap: nothing is reread however long the node runs.
    await time.advance(10 * NODE_TIMEOUT_MS);
    assert.deepEqual(
      sessions.map((s) => s.configUpdates),
      [0, 0, 0],
    );

    // The subscription goes away; meanwhile device 1's config changes, 2 is blocked, 3 deleted, and their events are missed.
    bus.deaf = true;
    devices.set('2', device('2', { blocked: true }));
    devices.delete('3');
    await bus.publish({ type: 'config-updated', numId: '1', version: 2 });
    await bus.publish({ type: 'device-blocked', numId: '2' });
    await bus.publish({ type: 'device-deleted', numId: '3' });
    await time.advance(NODE_TIMEOUT_MS + HEARTBEAT_MS);
    assert.equal(sessions[0]!.configUpdates, 0);

    bus.deaf = false;
    await time.advance(HEARTBEAT_MS);
    await settle();
    assert.equal(sessions[0]!.configUpdates, 1, 'the config is delivered if newer');
    assert.deepEqual(sessions[0]!.ended, []);
    assert.deepEqual(sessions[1]!.ended, [['2', 'device-blocked']]);
    assert.deepEqual(sessions[2]!.ended, [['3', 'device-deleted']]);
    live.close();
  });

  it('a device attached through a gateway whose binding went away during the gap is detached; a still-bound one stays', async () => {
    const time = new ManualTime();
    const bus = new DeafBus(new LocalBus());
    const devices = new Map([
      ['7', device('7')],
      ['8', device('8')],
    ]);
    const bindings = new Set(['5/7', '5/8']);
    const live = node(bus, time, devices, bindings);
    const gatewaySession = new FakeSession({ gateway: '5' });
    live.claim('7', gatewaySession);
    live.claim('8', gatewaySession);
    await settle();

    bus.deaf = true;
    bindings.delete('5/7');
    await bus.publish({ type: 'device-unbound', numId: '7', gatewayNumId: '5' });
    await time.advance(NODE_TIMEOUT_MS + HEARTBEAT_MS);
    assert.deepEqual(gatewaySession.ended, []);

    bus.deaf = false;
    await time.advance(HEARTBEAT_MS);
    await settle();
    assert.deepEqual(gatewaySession.ended, [['7', 'device-unbound']]);
    live.close();
  });

  it('a gap the bus reports (a reconnect), however short, rechecks every local session at once', async () => {
    const time = new ManualTime();
    const bus = new DeafBus(new LocalBus());
    const devices = new Map([['1', device('1')]]);
    const live = node(bus, time, devices);
    const session = new CountingSession();
    live.claim('1', session);
    await settle();
    bus.deaf = true;
    devices.set('1', device('1', { blocked: true }));
    await bus.publish({ type: 'device-blocked', numId: '1' });
    bus.deaf = false;
    const mark = live.revocationMark();
    assert.equal(bus.gapHandlers.length, 1);
    bus.gapHandlers[0]!();
    await settle();
    assert.deepEqual(session.ended, [['1', 'device-blocked']]);
    assert.equal(live.unchangedSince(mark), false, 'a session whose lookup spanned the gap reads its device again (C-MQTT-REVOKE)');
    live.close();
  });
});
