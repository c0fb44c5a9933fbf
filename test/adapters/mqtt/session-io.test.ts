import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SessionIo } from '../../../src/adapters/mqtt/session-io.js';
import type { AttachRequest } from '../../../src/adapters/mqtt/session-types.js';
import type { GatewayAuthMethod } from '../../../src/domain/model.js';
import { DeviceIngress } from '../../../src/services/device-ingress.js';
import { Harness, LOCATION, PROJECT, REGISTRY, STATE_TOPIC, T0, TELEMETRY_TOPIC, clientIdOf } from './harness.js';
import { ManualSink, RecordingInputs, type Answer } from './io-fakes.js';

/**
 * The I/O shell around the session (session-io.ts) over the real authenticator, MemoryStore and
 * DeviceIngress: each request is carried out and its answer fed back as an input, every failure
 * becomes an `ioFailed` (or failed `stored`) input, and a bug in an input ends in `answerCrashed`
 * rather than an unhandled rejection. Also what the ingress does with what the sessions submit.
 */

async function setup(): Promise<{ h: Harness; io: SessionIo; sink: ManualSink; target: RecordingInputs }> {
  const h = await Harness.create();
  const sink = new ManualSink();
  const io = new SessionIo({ auth: h.auth, store: h.store, ingress: new DeviceIngress(sink, h.store, h.activity) });
  return { h, io, sink, target: new RecordingInputs() };
}

const down = (): Promise<never> => Promise.reject(new Error('store down'));

function assertFailed(a: Answer, kind: string, key: string): void {
  assert.equal(a.input, 'ioFailed', JSON.stringify(a));
  assert.ok(a.input === 'ioFailed');
  assert.equal(a.kind, kind);
  assert.equal(a.key, key);
  assert.match(String(a.error), /store down/);
}

const identity = (h: Harness, id: string): Record<string, string> => ({
  deviceId: id,
  deviceNumId: h.numId(id),
  deviceRegistryId: REGISTRY,
  deviceRegistryLocation: LOCATION,
  projectId: PROJECT,
});

describe('SessionIo: reads and authentication', { timeout: 10_000 }, () => {
  test('requestAuth feeds the verdict, refusals included, under the client ID', async () => {
    const { h, io, target } = await setup();
    const d = await h.addDevice('dev-1');
    io.requestAuth(target, clientIdOf('dev-1'), h.token('dev-1'));
    let a = await target.next();
    assert.ok(a.input === 'authenticated' && a.outcome.ok);
    assert.equal(a.clientId, clientIdOf('dev-1'));
    assert.equal(a.outcome.device.numId, d.device.numId);
    io.requestAuth(target, clientIdOf('dev-1'), 'not-a-jwt');
    a = await target.next();
    assert.ok(a.input === 'authenticated' && !a.outcome.ok);
    assert.equal(a.outcome.reason, 'malformed-jwt');
  });

  test('a store failure during authentication comes back as ioFailed(auth)', async () => {
    const { h, io, target } = await setup();
    await h.addDevice('dev-1');
    h.store.getDevice = down;
    io.requestAuth(target, clientIdOf('dev-1'), h.token('dev-1'));
    assertFailed(await target.next(), 'auth', clientIdOf('dev-1'));
  });

  test('requestConfig and requestRecheck feed the device as stored now; a missing device is undefined', async () => {
    const { h, io, target } = await setup();
    const d = await h.addDevice('dev-1', { config: Buffer.from('cfg') });
    io.requestConfig(target, d.device.numId);
    const loaded = await target.next();
    assert.ok(loaded.input === 'configLoaded');
    assert.equal(loaded.numId, d.device.numId);
    assert.equal(Buffer.from(loaded.config!.binaryData).toString(), 'cfg');
    await h.store.deleteDevice(d.device.numId);
    io.requestRecheck(target, d.device.numId);
    assert.deepEqual(await target.next(), { input: 'rechecked', numId: d.device.numId, device: undefined });
    io.requestConfig(target, d.device.numId);
    assert.deepEqual(await target.next(), { input: 'configLoaded', numId: d.device.numId, config: undefined });
  });

  test('store failures of config and recheck reads come back as ioFailed', async () => {
    const { h, io, target } = await setup();
    h.store.getDeviceByNumId = down;
    io.requestConfig(target, '42');
    assertFailed(await target.next(), 'config', '42');
    io.requestRecheck(target, '42');
    assertFailed(await target.next(), 'recheck', '42');
  });

  test('requestErrorDevice feeds the numId of the named device, or undefined', async () => {
    const { h, io, target } = await setup();
    const d = await h.addDevice('dev-1');
    io.requestErrorDevice(target, h.registry, 'dev-1');
    assert.deepEqual(await target.next(), { input: 'errorDeviceFound', deviceId: 'dev-1', numId: d.device.numId });
    io.requestErrorDevice(target, h.registry, 'ghost');
    assert.deepEqual(await target.next(), { input: 'errorDeviceFound', deviceId: 'ghost', numId: undefined });
    h.store.getDevice = down;
    io.requestErrorDevice(target, h.registry, 'dev-1');
    assertFailed(await target.next(), 'error-device', 'dev-1');
  });

  test('a bug in the session while it handles an answer is reported to it, not left as a rejection', async () => {
    const { h, io, target } = await setup();
    await h.addDevice('dev-1');
    target.throwOn = 'authenticated';
    io.requestAuth(target, clientIdOf('dev-1'), h.token('dev-1'));
    assert.equal((await target.next()).input, 'authenticated');
    const crash = await target.next();
    assert.ok(crash.input === 'answerCrashed');
    assert.match(String(crash.error), /bug in authenticated/);
  });
});

describe('SessionIo: attach lookups (spec §6.2)', { timeout: 10_000 }, () => {
  async function fleet(method: GatewayAuthMethod): Promise<{ h: Harness; io: SessionIo; target: RecordingInputs; req: (token?: string) => AttachRequest }> {
    const { h, io, target } = await setup();
    await h.addDevice('gw-1', { gateway: method });
    await h.addDevice('sensor-1');
    const req = (token = ''): AttachRequest => ({ gatewayNumId: h.numId('gw-1'), knownMethod: method, registry: h.registry, deviceId: 'sensor-1', token });
    return { h, io, target, req };
  }

  test('ASSOCIATION_ONLY: the binding is read, no token is checked', async () => {
    const { h, io, target, req } = await fleet('ASSOCIATION_ONLY');
    io.requestAttachLookup(target, req('ignored.jwt.here'));
    let a = await target.next();
    assert.ok(a.input === 'attachLookedUp');
    assert.deepEqual({ ...a.lookup, device: a.lookup.device?.id }, { method: 'ASSOCIATION_ONLY', device: 'sensor-1', bound: false, token: 'not-checked', credentialKey: undefined });
    await h.bind('gw-1', 'sensor-1');
    io.requestAttachLookup(target, req());
    a = await target.next();
    assert.ok(a.input === 'attachLookedUp');
    assert.equal(a.lookup.bound, true);
  });

  test("DEVICE_AUTH_TOKEN_ONLY: the device's JWT is verified (valid, invalid, absent), the binding is not read", async () => {
    const { h, io, target, req } = await fleet('DEVICE_AUTH_TOKEN_ONLY');
    h.store.isBound = down;
    const lookups = [];
    for (const token of [h.token('sensor-1'), h.token('gw-1'), '']) {
      io.requestAttachLookup(target, req(token));
      const a = await target.next();
      assert.ok(a.input === 'attachLookedUp', JSON.stringify(a));
      lookups.push([a.lookup.token, a.lookup.bound, a.lookup.credentialKey === undefined]);
    }
    assert.deepEqual(lookups, [
      ['valid', false, false],
      ['invalid', false, true],
      ['absent', false, true],
    ]);
  });

  test("the gateway's auth method is re-read: a change since CONNECT applies", async () => {
    const { h, io, target, req } = await fleet('ASSOCIATION_ONLY');
    const gw = (await h.store.getDeviceByNumId(h.numId('gw-1')))!;
    await h.store.updateDevice({ ...gw, gatewayConfig: { ...gw.gatewayConfig, gatewayAuthMethod: 'DEVICE_AUTH_TOKEN_ONLY' } });
    io.requestAttachLookup(target, req(h.token('sensor-1')));
    const a = await target.next();
    assert.ok(a.input === 'attachLookedUp');
    assert.equal(a.lookup.method, 'DEVICE_AUTH_TOKEN_ONLY');
    assert.equal(a.lookup.token, 'valid');
  });

  test('an unknown device is looked up as undefined; a store failure comes back as ioFailed(attach)', async () => {
    const { h, io, target, req } = await fleet('ASSOCIATION_ONLY');
    io.requestAttachLookup(target, { ...req(), deviceId: 'ghost' });
    const a = await target.next();
    assert.ok(a.input === 'attachLookedUp');
    assert.equal(a.lookup.device, undefined);
    assert.equal(a.lookup.bound, false);
    h.store.isBound = down;
    io.requestAttachLookup(target, req());
    assertFailed(await target.next(), 'attach', 'sensor-1');
  });
});

describe('SessionIo: writes', { timeout: 10_000 }, () => {
  test('recordConfigAck and recordGatewayAccess write to the store; failures come back as ioFailed', async () => {
    const { h, io, target } = await setup();
    const d = await h.addDevice('dev-1');
    const writes: Promise<void>[] = [];
    const ackConfig = h.store.ackConfig.bind(h.store);
    const recordGatewayAccess = h.store.recordGatewayAccess.bind(h.store);
    h.store.ackConfig = (...a) => writes[writes.push(ackConfig(...a)) - 1]!;
    h.store.recordGatewayAccess = (...a) => writes[writes.push(recordGatewayAccess(...a)) - 1]!;
    io.recordConfigAck(target, d.device.numId, 1, T0 + 5);
    io.recordGatewayAccess(target, d.device.numId, 'gw-9', T0 + 6);
    await Promise.all(writes);
    const stored = await h.store.getDeviceByNumId(d.device.numId);
    assert.equal(stored?.config.deviceAckTime, T0 + 5);
    assert.equal(stored?.gatewayConfig.lastAccessedGatewayId, 'gw-9');
    h.store.ackConfig = down;
    h.store.recordGatewayAccess = down;
    io.recordConfigAck(target, d.device.numId, 1, T0 + 7);
    assertFailed(await target.next(), 'config-ack', d.device.numId);
    io.recordGatewayAccess(target, d.device.numId, 'gw-9', T0 + 8);
    assertFailed(await target.next(), 'gateway-access', d.device.numId);
  });
});

describe('SessionIo: telemetry and state through the ingress (spec §5.4, §8)', { timeout: 10_000 }, () => {
  test('telemetry submitted in one run goes to the sink in one append; each target is told in order once it commits; lastEventTime follows', async () => {
    const { h, io, sink, target } = await setup();
    const d = await h.addDevice('dev-1');
    const attributes = identity(h, 'dev-1');
    for (const [i, data] of ['a', 'b', 'c'].entries()) io.submitEvent(d.device.numId, TELEMETRY_TOPIC, attributes, Buffer.from(data), T0 + i, target, i === 2 ? 0 : i + 1);
    const append = await sink.nextAppend();
    assert.deepEqual(
      append.messages.map((m) => [m.topic, Buffer.from(m.data).toString(), m.publishTime]),
      [
        [TELEMETRY_TOPIC, 'a', T0],
        [TELEMETRY_TOPIC, 'b', T0 + 1],
        [TELEMETRY_TOPIC, 'c', T0 + 2],
      ],
    );
    assert.equal((await h.flushedDevice('dev-1')).lastEventTime, undefined, 'nothing is recorded before the commit');
    append.resolve();
    const told = [await target.next(), await target.next(), await target.next()];
    assert.deepEqual(told, [0, 1, 2].map((i) => ({ input: 'stored', token: i === 2 ? 0 : i + 1, error: undefined })));
    assert.equal((await h.flushedDevice('dev-1')).lastEventTime, T0 + 2);
  });

  test('a failed append tells every target of the batch, and records no event time', async () => {
    const { h, io, sink, target } = await setup();
    const d = await h.addDevice('dev-1');
    io.submitEvent(d.device.numId, TELEMETRY_TOPIC, identity(h, 'dev-1'), Buffer.from('x'), T0, target, 9);
    io.submitEvent(d.device.numId, TELEMETRY_TOPIC, identity(h, 'dev-1'), Buffer.from('y'), T0, target, 10);
    (await sink.nextAppend()).reject(new Error('sink unavailable'));
    for (const token of [9, 10]) {
      const a = await target.next();
      assert.ok(a.input === 'stored');
      assert.equal(a.token, token);
      assert.match(String(a.error), /sink unavailable/);
    }
    assert.equal((await h.flushedDevice('dev-1')).lastEventTime, undefined);
  });

  test('state is stored and its target told without waiting for the best-effort notification, which a failure does not undo', async () => {
    const { h, io, sink, target } = await setup();
    const d = await h.addDevice('dev-1');
    io.submitState(d.device.numId, h.registry, identity(h, 'dev-1'), Buffer.from('on'), T0 + 100, target, 11);
    const notification = await sink.nextAppend();
    assert.deepEqual(await target.next(), { input: 'stored', token: 11, error: undefined });
    assert.deepEqual(notification.messages, [{ topic: STATE_TOPIC, attributes: identity(h, 'dev-1'), data: Buffer.from('on'), publishTime: T0 + 100 }]);
    const states = await h.store.listStates(d.device.numId, 0);
    assert.deepEqual(
      states.map((s) => [s.updateTime, Buffer.from(s.binaryData).toString()]),
      [[T0 + 100, 'on']],
    );
    notification.reject(new Error('sink unavailable'));
    assert.equal((await h.store.listStates(d.device.numId, 0)).length, 1);
  });

  test('state without a state notification config is stored and nothing goes to the sink', async () => {
    const { h, io, sink, target } = await setup();
    const d = await h.addDevice('dev-1');
    let appended = false;
    void sink.nextAppend().then(() => (appended = true));
    io.submitState(d.device.numId, { ...h.registry, stateNotificationConfig: undefined }, identity(h, 'dev-1'), Buffer.from('quiet'), T0, target, 0);
    assert.deepEqual(await target.next(), { input: 'stored', token: 0, error: undefined });
    assert.equal(appended, false);
    assert.equal((await h.store.listStates(d.device.numId, 0)).length, 1);
  });

  test('a state the store cannot take fails its target', async () => {
    const { h, io, target } = await setup();
    const d = await h.addDevice('dev-1');
    h.store.recordState = down;
    io.submitState(d.device.numId, h.registry, identity(h, 'dev-1'), Buffer.from('on'), T0, target, 3);
    const a = await target.next();
    assert.ok(a.input === 'stored');
    assert.equal(a.token, 3);
    assert.match(String(a.error), /store down/);
  });

  test('a saturated sink holds a session until it drains; a forgotten session is not resumed', async () => {
    const { io, sink } = await setup();
    let resumedA = 0;
    let resumedB = 0;
    const a = (): void => void resumedA++;
    const b = (): void => void resumedB++;
    assert.equal(io.holdIfSaturated(a), false);
    sink.isSaturated = true;
    assert.equal(io.holdIfSaturated(a), true);
    assert.equal(io.holdIfSaturated(b), true);
    io.forget(b);
    sink.drain();
    assert.deepEqual([resumedA, resumedB], [1, 0]);
  });
});
