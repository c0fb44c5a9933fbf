import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { LocalBus } from '../../src/adapters/bus/local-bus.js';
import { ApiError } from '../../src/domain/errors.js';
import { GatewayErrorHistory, GatewayErrorRing, type GatewayErrorRecord } from '../../src/services/gateway-error-history.js';
import { LiveSessions } from '../../src/services/live-sessions.js';
import type { Bus, BusReply, BusRequest } from '../../src/services/ports.js';
import { FakeSession } from '../support/fake-live-session.js';
import { ManualTime, settle } from '../support/manual-time.js';

const HOUR = 60 * 60 * 1000;
const record = (at: number, deviceId = 'd'): GatewayErrorRecord => ({ at, errorType: 'GATEWAY_DEVICE_NOT_FOUND', deviceId, description: `#${at}`, delivered: true });
const times = (rs: GatewayErrorRecord[]): number[] => rs.map((r) => r.at);

describe('GatewayErrorRing', () => {
  it('keeps the last `capacity` records, newest first, overwriting the oldest', () => {
    const ring = new GatewayErrorRing(3);
    assert.deepEqual(ring.newestFirst(), []);
    ring.push(record(1));
    ring.push(record(2));
    assert.deepEqual(times(ring.newestFirst()), [2, 1]);
    for (let i = 3; i <= 10; i++) ring.push(record(i));
    assert.equal(ring.size, 3);
    assert.deepEqual(times(ring.newestFirst()), [10, 9, 8]);
  });

  it('holds the records it is given (no copy per push)', () => {
    const ring = new GatewayErrorRing(2);
    const r = record(1);
    ring.push(r);
    assert.equal(ring.newestFirst()[0], r);
  });
});

describe('GatewayErrorHistory', () => {
  it('a flood of errors is bounded by perGateway', () => {
    const h = new GatewayErrorHistory();
    const ring = h.open('gw', 0);
    for (let i = 0; i < 10_000; i++) ring.push(record(i));
    const recent = h.recent('gw', 10);
    assert.equal(recent.length, 100);
    assert.deepEqual(recent[0]!.at, 9999);
    assert.deepEqual(recent[99]!.at, 9900);
  });

  it('after the session ends the errors are kept retainMs, then forgotten', () => {
    const h = new GatewayErrorHistory({ retainMs: HOUR });
    h.open('gw', 0).push(record(5));
    h.close('gw', h.open('gw', 0), 0); // a second holder (takeover on this node) ending keeps it live
    assert.deepEqual(h.gateways, { live: 1, retained: 0 });
    const ring = h.open('gw', 0);
    h.close('gw', ring, 1000);
    h.close('gw', ring, 1000);
    assert.deepEqual(h.gateways, { live: 0, retained: 1 });
    assert.deepEqual(times(h.recent('gw', 1000 + HOUR)), [5]);
    assert.deepEqual(h.recent('gw', 1001 + HOUR), []);
    assert.deepEqual(h.gateways, { live: 0, retained: 0 });
    assert.deepEqual(h.recent('unknown', 0), []);
  });

  it('a gateway back on the node within retainMs goes on with its ring; after, starts afresh', () => {
    const h = new GatewayErrorHistory({ retainMs: 100 });
    let ring = h.open('gw', 0);
    ring.push(record(1));
    h.close('gw', ring, 10);
    ring = h.open('gw', 50);
    ring.push(record(50));
    assert.deepEqual(times(h.recent('gw', 50)), [50, 1]);
    h.close('gw', ring, 60);
    assert.deepEqual(times(h.open('gw', 500).newestFirst()), []);
  });

  it('at most retainedGateways ended gateways are kept, the longest ended dropped first', () => {
    const h = new GatewayErrorHistory({ retainedGateways: 3 });
    for (let i = 0; i < 5; i++) {
      const ring = h.open(`gw${i}`, i);
      ring.push(record(i));
      h.close(`gw${i}`, ring, i);
    }
    assert.deepEqual(h.gateways, { live: 0, retained: 3 });
    assert.deepEqual(h.recent('gw0', 10), []);
    assert.deepEqual(h.recent('gw1', 10), []);
    assert.deepEqual(times(h.recent('gw2', 10)), [2]);
    assert.deepEqual(times(h.recent('gw4', 10)), [4]);
  });
});

function node(bus: Bus, nodeId: string, time: ManualTime, history: GatewayErrorHistory): LiveSessions {
  const live = new LiveSessions({
    nodeId,
    bus,
    store: { getDeviceByNumId: async () => undefined, isBound: async () => true },
    registries: { refresh: async () => {} },
    clock: time,
    timers: time,
    log: pino({ level: 'silent' }),
    remoteCommandTimeoutMs: 500,
    remoteQueryTimeoutMs: 200,
    gatewayErrors: history,
  });
  live.start();
  return live;
}

describe('LiveSessions.gatewayErrors across nodes', () => {
  it('asks the node holding the gateway, or every node once it has dropped, and merges newest first', async () => {
    const time = new ManualTime();
    const bus = new LocalBus();
    const [ha, hb, hc] = [new GatewayErrorHistory(), new GatewayErrorHistory(), new GatewayErrorHistory()];
    const a = node(bus, 'a', time, ha);
    const b = node(bus, 'b', time, hb);
    const c = node(bus, 'c', time, hc);
    // The gateway was on C earlier, and is on B now (times: ms after the clock's start).
    const t = time.now();
    const onC = hc.open('gw', t);
    onC.push(record(t + 1));
    hc.close('gw', onC, t + 2);
    const session = new FakeSession();
    b.claim('gw', session);
    const onB = hb.open('gw', t + 3);
    onB.push(record(t + 3));
    onB.push(record(t + 4));
    await settle();
    const since = (rs: GatewayErrorRecord[]): number[] => times(rs).map((at) => at - t);

    assert.deepEqual(since(await b.gatewayErrors('gw')), [4, 3], 'the holder answers from its own ring');
    assert.deepEqual(since(await a.gatewayErrors('gw')), [4, 3], 'another node asks the holder');

    b.release('gw', session);
    hb.close('gw', onB, t + 5);
    await settle();
    assert.deepEqual(since(await a.gatewayErrors('gw')), [4, 3, 1], 'nobody holds it: every node is asked');
    assert.deepEqual(since(await c.gatewayErrors('gw')), [4, 3, 1]);
    assert.deepEqual(await a.gatewayErrors('other'), []);
    for (const n of [a, b, c]) n.close();
  });

  it('a node that does not answer in time is left out; a failing bus with nothing known is an error', async () => {
    const time = new ManualTime();
    const bus = new LocalBus();
    const a = node(bus, 'a', time, new GatewayErrorHistory());
    // 'slow' takes part in membership but never answers a request in time.
    let stopSlow = bus.respond('slow', () => new Promise<BusReply>(() => {}));
    await bus.publish({ type: 'node-heartbeat', nodeId: 'slow', at: 0, incarnation: 'x' });
    await settle();
    assert.deepEqual(a.liveNodes(), ['slow']);
    const pending = a.gatewayErrors('gw');
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(await pending, []);

    stopSlow();
    stopSlow = bus.respond('slow', async (_r: BusRequest) => {
      throw new ApiError('UNAVAILABLE', 'down');
    });
    await assert.rejects(a.gatewayErrors('gw'), (e: unknown) => e instanceof ApiError && e.kind === 'UNAVAILABLE');
    stopSlow();
    a.close();
  });
});
