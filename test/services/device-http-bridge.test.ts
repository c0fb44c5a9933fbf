import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { pino } from 'pino';
import { DeviceTokenVerifier } from '../../src/adapters/crypto/device-token-verifier.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ApiError } from '../../src/domain/errors.js';
import type { Device, DeviceCredential, Registry, RegistryKey } from '../../src/domain/model.js';
import { ActivityRecorder } from '../../src/services/activity-recorder.js';
import type { AuthFailureReason } from '../../src/services/device-auth.js';
import { DeviceAuthenticator } from '../../src/services/device-auth.js';
import { DeviceHttpBridge, type DevicePath, type HttpCaller } from '../../src/services/device-http-bridge.js';
import { DeviceIngress } from '../../src/services/device-ingress.js';
import type { Sink, SinkMessage } from '../../src/services/ports.js';
import { configV1, deviceInput, gatewayConfig } from '../support/devices.js';
import { ManualTime, settle } from '../support/manual-time.js';
import { claims, forgeSignature, signRawJwt } from '../support/mqtt-jwt.js';
import { makeDeviceKeys, type DeviceKeys } from '../support/pki.js';

/**
 * DeviceHttpBridge's rules (spec §7, docs/compat.md C-HTTP-*) with the real authenticator and
 * token verifier, the MemoryStore, and a real DeviceIngress over a sink whose commits the test
 * controls. No network.
 */

const P = 'http-proj';
const KEY: RegistryKey = { project: P, location: 'us-central1', registry: 'http-reg' };
const TOPIC_A = 'projects/http-proj/topics/sub-a';
const TOPIC_DEFAULT = 'projects/http-proj/topics/default';
const TOPIC_STATE = 'projects/http-proj/topics/state';
const KIB = 1024;

let keys: DeviceKeys;
let otherKeys: DeviceKeys;

before(async () => {
  [keys, otherKeys] = await Promise.all([makeDeviceKeys('ES256'), makeDeviceKeys('ES256')]);
});

/** A sink that commits at once, or, while `hold` is set, only when the test says so. */
class ControlledSink implements Sink {
  readonly stored: SinkMessage[] = [];
  readonly held: { messages: readonly SinkMessage[]; commit: () => void; fail: (e: Error) => void }[] = [];
  hold = false;
  failWith: Error | undefined;

  append(messages: readonly SinkMessage[]): Promise<string[]> {
    if (this.failWith) return Promise.reject(this.failWith);
    const commit = (): string[] => {
      this.stored.push(...messages);
      return messages.map((_, i) => String(this.stored.length - messages.length + i + 1));
    };
    if (!this.hold) return Promise.resolve(commit());
    return new Promise((resolve, reject) => this.held.push({ messages, commit: () => resolve(commit()), fail: reject }));
  }
  full = false;
  private readonly drainListeners: (() => void)[] = [];
  saturated(): boolean {
    return this.full;
  }
  onDrain(listener: () => void): void {
    this.drainListeners.push(listener);
  }
  drain(): void {
    this.full = false;
    for (const l of this.drainListeners) l();
  }
  async close(): Promise<void> {}
}

function registry(over: Partial<Registry> = {}): Registry {
  return {
    ...KEY,
    revision: 1,
    eventNotificationConfigs: [
      { pubsubTopicName: TOPIC_A, subfolderMatches: 'a' },
      { pubsubTopicName: TOPIC_DEFAULT, subfolderMatches: '' },
    ],
    stateNotificationConfig: { pubsubTopicName: TOPIC_STATE },
    mqttEnabledState: undefined,
    httpEnabledState: 'HTTP_ENABLED',
    logLevel: 'NONE',
    credentials: [],
    ...over,
  };
}

interface Setup {
  store: MemoryStore;
  time: ManualTime;
  sink: ControlledSink;
  activity: ActivityRecorder;
  bridge: DeviceHttpBridge;
  authFailures: AuthFailureReason[];
  gatewayWrites: [string, string, number][];
  devices: Record<string, Device>;
  /** An HttpCaller for a device, as authenticate returns it. */
  caller: (id: string) => Promise<HttpCaller>;
  /** A valid Bearer header for a device key at the current time. */
  bearer: (k?: DeviceKeys) => string;
  fresh: (id: string) => Promise<Device>;
}

async function setup(over: { registry?: Partial<Registry>; logLines?: Record<string, unknown>[] } = {}): Promise<Setup> {
  const store = new MemoryStore();
  const time = new ManualTime(Date.UTC(2024, 5, 1, 8, 0, 0));
  const reg = await store.createRegistry(registry(over.registry));
  const cred: DeviceCredential[] = [{ format: keys.rawFormat, key: keys.publicKeyPem, expirationTime: 0 }];
  const make = (id: string, o: { gateway?: boolean; blocked?: boolean } = {}) =>
    store.createDevice(
      deviceInput(KEY, id, configV1(time.now() - 60_000, new Uint8Array([7, 7])), {
        credentials: cred,
        blocked: o.blocked ?? false,
        gatewayConfig: o.gateway ? gatewayConfig('GATEWAY', 'ASSOCIATION_ONLY') : gatewayConfig('NON_GATEWAY', 'GATEWAY_AUTH_METHOD_UNSPECIFIED'),
      }),
    );
  const devices: Record<string, Device> = {};
  for (const [id, o] of [
    ['dev-1', {}],
    ['dev-b', {}],
    ['dev-unbound', {}],
    ['dev-blocked', { blocked: true }],
    ['gw-1', { gateway: true }],
    ['gw-2', { gateway: true }],
    ['gw-blocked', { gateway: true, blocked: true }],
  ] as const) {
    devices[id] = await make(id, o);
  }
  const limits = { maxDevicesPerGateway: 100, maxGatewaysPerDevice: 100 };
  await store.bind(devices['gw-1']!.numId, devices['dev-b']!.numId, limits);
  await store.bind(devices['gw-1']!.numId, devices['dev-blocked']!.numId, limits);
  await store.bind(devices['gw-2']!.numId, devices['dev-b']!.numId, limits);
  await store.bind(devices['gw-blocked']!.numId, devices['dev-b']!.numId, limits);

  const gatewayWrites: [string, string, number][] = [];
  const record = store.recordGatewayAccess.bind(store);
  store.recordGatewayAccess = (numId, gatewayId, at) => {
    gatewayWrites.push([numId, gatewayId, at]);
    return record(numId, gatewayId, at);
  };

  const sink = new ControlledSink();
  const activity = new ActivityRecorder(store);
  const ingress = new DeviceIngress(sink, store, activity);
  const authFailures: AuthFailureReason[] = [];
  const bridge = new DeviceHttpBridge({
    auth: new DeviceAuthenticator(store, new DeviceTokenVerifier(), time),
    store,
    ingress,
    activity,
    clock: time,
    observer: { authFailure: (r) => authFailures.push(r) },
    log: over.logLines
      ? pino({ level: 'info' }, { write: (line: string) => void over.logLines!.push(JSON.parse(line) as Record<string, unknown>) })
      : pino({ level: 'silent' }),
  });
  const fresh = async (id: string): Promise<Device> => (await store.getDevice(KEY, id))!;
  return {
    store,
    time,
    sink,
    activity,
    bridge,
    authFailures,
    gatewayWrites,
    devices,
    caller: async (id) => ({ device: await fresh(id), registry: reg }),
    bearer: (k = keys) => `Bearer ${signRawJwt(claims(P, Math.floor(time.now() / 1000)), { alg: k.alg, key: k.privateKeyPem })}`,
    fresh,
  };
}

const path = (device: string, key: RegistryKey = KEY): DevicePath => ({ registryKey: key, device });
const data = (n: number): Uint8Array => new Uint8Array(n).fill(0x61);

function apiError(kind: string, reason: string, field?: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof ApiError, `expected an ApiError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    assert.equal(e.reason, reason, e.message);
    if (field !== undefined) assert.equal(e.field, field, e.message);
    return true;
  };
}
const authFailed = apiError('PERMISSION_DENIED', 'DEVICE_AUTH_FAILED');
const gatewayDenied = apiError('PERMISSION_DENIED', 'GATEWAY_DENIED');

describe('DeviceHttpBridge.authenticate (spec §4, §7.1)', { timeout: 20_000 }, () => {
  it('a valid Bearer JWT authenticates the path device, by ID or numId, whatever the scheme case', async () => {
    const t = await setup();
    const c = await t.bridge.authenticate(path('dev-1'), t.bearer());
    assert.equal(c.device.id, 'dev-1');
    assert.equal(c.registry.registry, KEY.registry);
    assert.equal((await t.bridge.authenticate(path(t.devices['dev-1']!.numId), t.bearer())).device.id, 'dev-1');
    assert.equal((await t.bridge.authenticate(path('dev-1'), t.bearer().replace('Bearer', 'bearer'))).device.id, 'dev-1');
    assert.deepEqual(t.authFailures, []);
  });

  it('no Authorization header is UNAUTHENTICATED CREDENTIALS_MISSING (401)', async () => {
    const t = await setup();
    for (const h of [undefined, '', '   ']) {
      await assert.rejects(t.bridge.authenticate(path('dev-1'), h), apiError('UNAUTHENTICATED', 'CREDENTIALS_MISSING'), String(h));
    }
  });

  it('a header that is not "Bearer <token>" is PERMISSION_DENIED DEVICE_AUTH_FAILED', async () => {
    const t = await setup();
    const token = t.bearer().slice('Bearer '.length);
    for (const h of [`Basic ${token}`, token, 'Bearer', `Bearer ${token} extra`, `Token ${token}`]) {
      await assert.rejects(t.bridge.authenticate(path('dev-1'), h), authFailed, h.slice(0, 20));
    }
    assert.ok(t.authFailures.every((r) => r === 'malformed-jwt'), t.authFailures.join());
  });

  it('a bad token, a forged signature, another key, an expired JWT or a wrong audience is DEVICE_AUTH_FAILED', async () => {
    const t = await setup();
    const nowS = Math.floor(t.time.now() / 1000);
    const bad = [
      'Bearer not.a.jwt',
      'Bearer xyz',
      forgeSignature(t.bearer()),
      t.bearer(otherKeys),
      `Bearer ${signRawJwt({ aud: P, iat: nowS - 7200, exp: nowS - 3600 }, { alg: 'ES256', key: keys.privateKeyPem })}`,
      `Bearer ${signRawJwt(claims('other-project', nowS), { alg: 'ES256', key: keys.privateKeyPem })}`,
      `Bearer ${signRawJwt(claims(P, nowS), { alg: 'none' })}`,
    ];
    for (const h of bad) await assert.rejects(t.bridge.authenticate(path('dev-1'), h), authFailed, h.slice(0, 40));
    assert.equal(t.authFailures.length, bad.length);
  });

  it('unknown device, unknown registry and a bad signature give the same message', async () => {
    const t = await setup();
    const messages: string[] = [];
    const capture = async (p: Promise<unknown>): Promise<void> => {
      await assert.rejects(p, (e: unknown) => {
        assert.ok(authFailed(e));
        messages.push((e as ApiError).message);
        return true;
      });
    };
    await capture(t.bridge.authenticate(path('no-such-device'), t.bearer()));
    await capture(t.bridge.authenticate(path('dev-1', { ...KEY, registry: 'no-such-reg' }), t.bearer()));
    await capture(t.bridge.authenticate(path('dev-1'), forgeSignature(t.bearer())));
    await capture(t.bridge.authenticate(path('dev-1'), t.bearer(otherKeys)));
    assert.equal(new Set(messages).size, 1, messages.join(' | '));
    assert.deepEqual(t.authFailures, ['unknown-device', 'unknown-registry', 'bad-signature', 'bad-signature']);
  });

  // AUTH_MESSAGES promises that no message says whether the device exists: a caller without any
  // valid JWT must not tell an existing device (or a blocked one, or a registry with HTTP off)
  // from one that does not exist.
  it('without a valid JWT, the message does not tell an existing device from an unknown one', async () => {
    const t = await setup();
    const off = await setup({ registry: { httpEnabledState: 'HTTP_DISABLED' } });
    const nowS = Math.floor(t.time.now() / 1000);
    const expired = `Bearer ${signRawJwt({ aud: P, iat: nowS - 7200, exp: nowS - 3600 }, { alg: 'ES256', key: otherKeys.privateKeyPem })}`;
    for (const h of ['Bearer xyz', expired, forgeSignature(t.bearer())]) {
      const messageOf = async (b: DeviceHttpBridge, p: DevicePath): Promise<string> => {
        try {
          await b.authenticate(p, h);
        } catch (e) {
          assert.ok(authFailed(e));
          return (e as ApiError).message;
        }
        assert.fail('authenticated');
      };
      const unknown = await messageOf(t.bridge, path('no-such-device'));
      assert.equal(await messageOf(t.bridge, path('dev-1')), unknown, `existing device, ${h.slice(0, 20)}`);
      assert.equal(await messageOf(t.bridge, path('dev-blocked')), unknown, `blocked device, ${h.slice(0, 20)}`);
      assert.equal(await messageOf(off.bridge, path('dev-1')), unknown, `HTTP disabled, ${h.slice(0, 20)}`);
    }
  });

  it('a blocked device, and a registry with HTTP disabled, are DEVICE_AUTH_FAILED even with a valid JWT', async () => {
    const t = await setup();
    await assert.rejects(t.bridge.authenticate(path('dev-blocked'), t.bearer()), authFailed);
    const off = await setup({ registry: { httpEnabledState: 'HTTP_DISABLED' } });
    await assert.rejects(off.bridge.authenticate(path('dev-1'), off.bearer()), authFailed);
    assert.deepEqual([...t.authFailures, ...off.authFailures], ['blocked', 'http-disabled']);
  });
});

describe('DeviceHttpBridge.publishEvent (spec §7.2, §8)', { timeout: 30_000 }, () => {
  it('routes by subFolder per the registry configs, with exactly the identity attributes', async () => {
    const t = await setup();
    const c = await t.caller('dev-1');
    const d = t.devices['dev-1']!;
    const base = { deviceId: 'dev-1', deviceNumId: d.numId, deviceRegistryId: KEY.registry, deviceRegistryLocation: KEY.location, projectId: P };
    await t.bridge.publishEvent(c, { data: new Uint8Array([1]), subFolder: 'a', gatewayInfo: undefined });
    await t.bridge.publishEvent(c, { data: new Uint8Array([2]), subFolder: 'b/c', gatewayInfo: undefined });
    await t.bridge.publishEvent(c, { data: new Uint8Array([3]), subFolder: '', gatewayInfo: undefined });
    assert.deepEqual(
      t.sink.stored.map((m) => [m.topic, m.attributes, [...m.data], m.publishTime]),
      [
        [TOPIC_A, { ...base, subFolder: 'a' }, [1], t.time.now()],
        [TOPIC_DEFAULT, { ...base, subFolder: 'b/c' }, [2], t.time.now()],
        [TOPIC_DEFAULT, base, [3], t.time.now()],
      ],
    );
    await t.activity.flush();
    assert.equal((await t.fresh('dev-1')).lastEventTime, t.time.now());
  });

  it('resolves only once the sink committed the message', async () => {
    const t = await setup();
    t.sink.hold = true;
    let done = false;
    const p = t.bridge.publishEvent(await t.caller('dev-1'), { data: new Uint8Array([1]), subFolder: '', gatewayInfo: undefined }).then(() => (done = true));
    await settle();
    assert.equal(t.sink.held.length, 1, 'appended');
    assert.equal(done, false, 'not resolved before the commit');
    t.sink.held[0]!.commit();
    await p;
    assert.equal(done, true);
    assert.equal(t.sink.stored.length, 1);
  });

  it('a sink failure is UNAVAILABLE', async () => {
    const t = await setup();
    t.sink.hold = true;
    const p = t.bridge.publishEvent(await t.caller('dev-1'), { data: new Uint8Array([1]), subFolder: '', gatewayInfo: undefined });
    await settle();
    t.sink.held[0]!.fail(new Error('disk full'));
    await assert.rejects(p, (e: unknown) => e instanceof ApiError && e.kind === 'UNAVAILABLE');
    const t2 = await setup();
    t2.sink.failWith = new Error('down');
    await assert.rejects(
      t2.bridge.publishEvent(await t2.caller('dev-1'), { data: new Uint8Array([1]), subFolder: '', gatewayInfo: undefined }),
      (e: unknown) => e instanceof ApiError && e.kind === 'UNAVAILABLE',
    );
  });

  it('while the sink is saturated, a publish waits for it to drain before it is submitted', async () => {
    const t = await setup();
    t.sink.full = true;
    let done = false;
    const p = t.bridge.publishEvent(await t.caller('dev-1'), { data: data(1), subFolder: '', gatewayInfo: undefined }).then(() => (done = true));
    await settle();
    assert.equal(done, false);
    assert.equal(t.sink.stored.length, 0, 'not submitted while saturated');
    t.sink.drain();
    await p;
    assert.equal(t.sink.stored.length, 1);
  });

  it('256 KiB is accepted; one byte more is PAYLOAD_TOO_LARGE on binary_data, noted as lastErrorStatus', async () => {
    const t = await setup();
    const c = await t.caller('dev-1');
    await t.bridge.publishEvent(c, { data: data(256 * KIB), subFolder: '', gatewayInfo: undefined });
    await assert.rejects(
      t.bridge.publishEvent(c, { data: data(256 * KIB + 1), subFolder: '', gatewayInfo: undefined }),
      apiError('INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE', 'binary_data'),
    );
    assert.equal(t.sink.stored.length, 1);
    await t.activity.flush();
    const d = await t.fresh('dev-1');
    assert.equal(d.lastErrorStatus?.code, 3);
    assert.match(d.lastErrorStatus?.message ?? '', /262145/);
    assert.equal(d.lastErrorTime, t.time.now());
  });

  it('a sub_folder over 1,024 bytes is refused on sub_folder (it becomes a Pub/Sub attribute)', async () => {
    const t = await setup();
    const c = await t.caller('dev-1');
    await t.bridge.publishEvent(c, { data: data(1), subFolder: 'x'.repeat(1024), gatewayInfo: undefined });
    await assert.rejects(t.bridge.publishEvent(c, { data: data(1), subFolder: 'é'.repeat(513), gatewayInfo: undefined }), apiError('INVALID_ARGUMENT', 'INVALID_FIELD', 'sub_folder'));
    assert.equal(t.sink.stored.length, 1);
  });

  it('refused events do not count towards the minute', async () => {
    const t = await setup();
    const c = await t.caller('dev-1');
    for (let i = 0; i < 10; i++) {
      await assert.rejects(t.bridge.publishEvent(c, { data: data(256 * KIB + 1), subFolder: '', gatewayInfo: undefined }));
    }
    const event = { data: data(1), subFolder: '', gatewayInfo: undefined };
    await Promise.all(Array.from({ length: 6000 }, () => t.bridge.publishEvent(c, event)));
    assert.equal(t.sink.stored.length, 6000);
  });

  it('no matching event notification config is FAILED_PRECONDITION NO_EVENT_ROUTE', async () => {
    const t = await setup({ registry: { eventNotificationConfigs: [{ pubsubTopicName: TOPIC_A, subfolderMatches: 'a' }] } });
    const c = await t.caller('dev-1');
    for (const subFolder of ['', 'b']) {
      await assert.rejects(t.bridge.publishEvent(c, { data: data(1), subFolder, gatewayInfo: undefined }), apiError('FAILED_PRECONDITION', 'NO_EVENT_ROUTE'));
    }
    await t.bridge.publishEvent(c, { data: data(1), subFolder: 'a', gatewayInfo: undefined });
    assert.deepEqual(t.sink.stored.map((m) => m.topic), [TOPIC_A]);
    await t.activity.flush();
    assert.equal((await t.fresh('dev-1')).lastErrorStatus?.code, 9);
  });

  it('6,000 events per minute per device; the 6,001st is TELEMETRY_RATE_EXCEEDED until the minute is over', async () => {
    const t = await setup();
    const c = await t.caller('dev-1');
    const event = { data: data(1), subFolder: '', gatewayInfo: undefined };
    await Promise.all(Array.from({ length: 6000 }, () => t.bridge.publishEvent(c, event)));
    await assert.rejects(t.bridge.publishEvent(c, event), apiError('RESOURCE_EXHAUSTED', 'TELEMETRY_RATE_EXCEEDED'));
    await t.bridge.publishEvent(await t.caller('dev-b'), event); // another device has its own minute
    await t.time.advance(59_999);
    await assert.rejects(t.bridge.publishEvent(c, event), apiError('RESOURCE_EXHAUSTED', 'TELEMETRY_RATE_EXCEEDED'));
    await t.time.advance(1);
    await t.bridge.publishEvent(c, event);
    assert.equal(t.sink.stored.length, 6002);
  });
});

describe('DeviceHttpBridge.setState (spec §7.2, §1.5)', { timeout: 20_000 }, () => {
  it('stores the state in the history and sets lastStateTime', async () => {
    const t = await setup();
    const c = await t.caller('dev-1');
    await t.bridge.setState(c, { data: new Uint8Array([1]), gatewayInfo: undefined });
    await t.time.advance(1000);
    await t.bridge.setState(c, { data: new Uint8Array([2]), gatewayInfo: undefined });
    const states = await t.store.listStates(t.devices['dev-1']!.numId, 0);
    assert.deepEqual(states.map((s) => [[...s.binaryData], s.updateTime]), [[[2], t.time.now()], [[1], t.time.now() - 1000]]);
    assert.equal((await t.fresh('dev-1')).lastStateTime, t.time.now());
  });

  it('a store failure is UNAVAILABLE', async () => {
    const t = await setup();
    t.store.recordState = () => Promise.reject(new Error('store down'));
    await assert.rejects(t.bridge.setState(await t.caller('dev-1'), { data: data(1), gatewayInfo: undefined }), (e: unknown) => e instanceof ApiError && e.kind === 'UNAVAILABLE');
  });

  it('one state per second: a second within the second is STATE_RATE_EXCEEDED and not stored', async () => {
    const t = await setup();
    const c = await t.caller('dev-1');
    await t.bridge.setState(c, { data: new Uint8Array([1]), gatewayInfo: undefined });
    await t.time.advance(999);
    await assert.rejects(t.bridge.setState(c, { data: new Uint8Array([2]), gatewayInfo: undefined }), apiError('RESOURCE_EXHAUSTED', 'STATE_RATE_EXCEEDED'));
    assert.equal((await t.store.listStates(t.devices['dev-1']!.numId, 0)).length, 1);
    await t.time.advance(1);
    await t.bridge.setState(c, { data: new Uint8Array([3]), gatewayInfo: undefined });
    await t.activity.flush();
    assert.equal((await t.fresh('dev-1')).lastErrorStatus?.code, 8);
  });

  it('64 KiB is accepted; one byte more is PAYLOAD_TOO_LARGE', async () => {
    const t = await setup();
    await t.bridge.setState(await t.caller('dev-1'), { data: data(64 * KIB), gatewayInfo: undefined });
    await t.time.advance(1000);
    await assert.rejects(
      t.bridge.setState(await t.caller('dev-1'), { data: data(64 * KIB + 1), gatewayInfo: undefined }),
      apiError('INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE', 'state.binary_data'),
    );
    assert.equal((await t.store.listStates(t.devices['dev-1']!.numId, 0)).length, 1);
  });
});

describe('DeviceHttpBridge.getConfig (spec §7.2, docs/compat.md C-HTTP-CONFIG)', { timeout: 20_000 }, () => {
  it('returns the config and notes lastConfigSendTime only when binaryData went out', async () => {
    const t = await setup();
    const c = await t.caller('dev-1');
    const sent = t.devices['dev-1']!.config;
    assert.deepEqual(await t.bridge.getConfig(c, { localVersion: 1, gatewayInfo: undefined }), { version: 1 });
    await t.activity.flush();
    assert.equal((await t.fresh('dev-1')).lastConfigSendTime, undefined, 'version only: nothing sent');
    await t.time.advance(5000);
    assert.deepEqual(await t.bridge.getConfig(c, { localVersion: 0, gatewayInfo: undefined }), {
      version: 1,
      cloudUpdateTime: sent.cloudUpdateTime,
      binaryData: sent.binaryData,
    });
    await t.activity.flush();
    const d = await t.fresh('dev-1');
    assert.equal(d.lastConfigSendTime, t.time.now());
    assert.equal(d.lastConfigAckTime, undefined, 'never an ack over HTTP');
    assert.equal(d.config.deviceAckTime, undefined);
  });

  it('local_version above the latest is OUT_OF_RANGE', async () => {
    const t = await setup();
    await assert.rejects(t.bridge.getConfig(await t.caller('dev-1'), { localVersion: 2, gatewayInfo: undefined }), apiError('OUT_OF_RANGE', 'OUT_OF_RANGE'));
  });

  it('a negative or unsafe local_version is INVALID_ARGUMENT on local_version', async () => {
    const t = await setup();
    for (const v of [-1, 1.5, Number.MAX_SAFE_INTEGER + 2, NaN]) {
      await assert.rejects(
        t.bridge.getConfig(await t.caller('dev-1'), { localVersion: v, gatewayInfo: undefined }),
        apiError('INVALID_ARGUMENT', 'INVALID_FIELD', 'local_version'),
        String(v),
      );
    }
  });
});

describe('DeviceHttpBridge gateways (spec §7.3, docs/compat.md C-HTTP-GATEWAY)', { timeout: 20_000 }, () => {
  const ev = (gatewayInfo: { gatewayId?: string; delegatedDeviceId?: string }) => ({ data: new Uint8Array([9]), subFolder: '', gatewayInfo });

  it('delegated: the caller must be a gateway, the device must exist, be bound, not blocked and not a gateway', async () => {
    const t = await setup();
    const gw = await t.caller('gw-1');
    await assert.rejects(t.bridge.publishEvent(await t.caller('dev-1'), ev({ delegatedDeviceId: 'dev-b' })), gatewayDenied, 'caller not a gateway');
    await assert.rejects(t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'no-such' })), gatewayDenied, 'device missing');
    await assert.rejects(t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'dev-unbound' })), gatewayDenied, 'not bound');
    await assert.rejects(t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'dev-blocked' })), gatewayDenied, 'blocked');
    await assert.rejects(t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'gw-2' })), gatewayDenied, 'a gateway');
    await assert.rejects(t.bridge.setState(gw, { data: new Uint8Array([1]), gatewayInfo: { delegatedDeviceId: 'dev-unbound' } }), gatewayDenied);
    await assert.rejects(t.bridge.getConfig(gw, { localVersion: 0, gatewayInfo: { delegatedDeviceId: 'dev-unbound' } }), gatewayDenied);
    assert.equal(t.sink.stored.length, 0);
    assert.deepEqual(t.gatewayWrites, []);
  });

  it('via-gateway: the gateway must exist, be a gateway, not be blocked, and be bound', async () => {
    const t = await setup();
    const d = await t.caller('dev-b');
    await assert.rejects(t.bridge.publishEvent(d, ev({ gatewayId: 'no-such' })), gatewayDenied, 'gateway missing');
    await assert.rejects(t.bridge.publishEvent(d, ev({ gatewayId: 'dev-1' })), gatewayDenied, 'not a gateway');
    await assert.rejects(t.bridge.publishEvent(d, ev({ gatewayId: 'gw-blocked' })), gatewayDenied, 'gateway blocked');
    await assert.rejects(t.bridge.publishEvent(await t.caller('dev-unbound'), ev({ gatewayId: 'gw-1' })), gatewayDenied, 'not bound');
    assert.equal(t.sink.stored.length, 0);
    assert.deepEqual(t.gatewayWrites, []);
  });

  it('both gatewayInfo members set is INVALID_ARGUMENT on gateway_info', async () => {
    const t = await setup();
    await assert.rejects(
      t.bridge.publishEvent(await t.caller('gw-1'), ev({ gatewayId: 'gw-1', delegatedDeviceId: 'dev-b' })),
      apiError('INVALID_ARGUMENT', 'INVALID_FIELD', 'gateway_info'),
    );
  });

  it('success attributes the message, state and config to the device, and records lastAccessedGatewayId once a minute', async () => {
    const t = await setup();
    const b = t.devices['dev-b']!;
    const gw = await t.caller('gw-1');
    await t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'dev-b' }));
    await t.bridge.publishEvent(await t.caller('dev-b'), ev({ gatewayId: 'gw-1' }));
    await t.bridge.setState(gw, { data: new Uint8Array([5]), gatewayInfo: { delegatedDeviceId: 'dev-b' } });
    const config = await t.bridge.getConfig(gw, { localVersion: 0, gatewayInfo: { delegatedDeviceId: 'dev-b' } });
    assert.deepEqual(config.binaryData, b.config.binaryData);
    assert.deepEqual(t.sink.stored.filter((m) => m.topic !== TOPIC_STATE).map((m) => [m.attributes.deviceId, m.attributes.deviceNumId]), [
      ['dev-b', b.numId],
      ['dev-b', b.numId],
    ]);
    assert.equal((await t.store.listStates(b.numId, 0)).length, 1);
    assert.equal((await t.store.listStates(t.devices['gw-1']!.numId, 0)).length, 0);
    await settle();
    assert.deepEqual(t.gatewayWrites, [[b.numId, 'gw-1', t.time.now()]], 'one write for four requests within the minute');
    const stored = await t.fresh('dev-b');
    assert.equal(stored.gatewayConfig.lastAccessedGatewayId, 'gw-1');
    assert.equal(stored.gatewayConfig.lastAccessedGatewayTime, t.time.now());

    await t.time.advance(59_999);
    await t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'dev-b' }));
    await settle();
    assert.equal(t.gatewayWrites.length, 1, 'still within the minute');
    await t.time.advance(1);
    await t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'dev-b' }));
    await settle();
    assert.equal(t.gatewayWrites.length, 2, 'rewritten after a minute');
  });

  it('a failed lastAccessedGatewayId write does not fail the request, and the next request writes again', async () => {
    const t = await setup();
    const record = t.store.recordGatewayAccess;
    let failures = 0;
    t.store.recordGatewayAccess = (numId, gatewayId, at) => {
      if (failures++ === 0) return Promise.reject(new Error('store down'));
      return record(numId, gatewayId, at);
    };
    const gw = await t.caller('gw-1');
    await t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'dev-b' }));
    await settle();
    await t.bridge.publishEvent(gw, ev({ delegatedDeviceId: 'dev-b' }));
    await settle();
    assert.equal(failures, 2, 'written again within the minute, the first write having failed');
    assert.equal((await t.fresh('dev-b')).gatewayConfig.lastAccessedGatewayId, 'gw-1');
  });

  it('a change of gateway is recorded at once', async () => {
    const t = await setup();
    const b = t.devices['dev-b']!;
    await t.bridge.publishEvent(await t.caller('gw-1'), ev({ delegatedDeviceId: 'dev-b' }));
    await t.time.advance(10);
    await t.bridge.publishEvent(await t.caller('gw-2'), ev({ delegatedDeviceId: 'dev-b' }));
    await settle();
    assert.deepEqual(t.gatewayWrites.map(([n, g]) => [n, g]), [[b.numId, 'gw-1'], [b.numId, 'gw-2']]);
    assert.equal((await t.fresh('dev-b')).gatewayConfig.lastAccessedGatewayId, 'gw-2');
  });

  it('a device or gateway naming itself by numId acts for itself, as by ID', async () => {
    const t = await setup();
    await t.bridge.publishEvent(await t.caller('gw-1'), ev({ delegatedDeviceId: t.devices['gw-1']!.numId }));
    await t.bridge.publishEvent(await t.caller('dev-1'), ev({ gatewayId: t.devices['dev-1']!.numId }));
    assert.deepEqual(t.sink.stored.map((m) => m.attributes.deviceId), ['gw-1', 'dev-1']);
  });

  it('the other side may be named by numId; the gateway is recorded by ID', async () => {
    const t = await setup();
    await t.bridge.publishEvent(await t.caller('gw-1'), ev({ delegatedDeviceId: t.devices['dev-b']!.numId }));
    await t.bridge.publishEvent(await t.caller('dev-b'), ev({ gatewayId: t.devices['gw-2']!.numId }));
    assert.deepEqual(t.sink.stored.map((m) => m.attributes.deviceId), ['dev-b', 'dev-b']);
    await settle();
    assert.deepEqual(t.gatewayWrites.map(([, g]) => g), ['gw-1', 'gw-2']);
  });

  it('a device or gateway naming itself acts for itself, without a binding', async () => {
    const t = await setup();
    await t.bridge.publishEvent(await t.caller('gw-1'), ev({ delegatedDeviceId: 'gw-1' }));
    await t.bridge.publishEvent(await t.caller('dev-1'), ev({ gatewayId: 'dev-1' }));
    assert.deepEqual(t.sink.stored.map((m) => m.attributes.deviceId), ['gw-1', 'dev-1']);
    assert.deepEqual(t.gatewayWrites, []);
  });
});

describe('DeviceHttpBridge device logs (spec §9)', { timeout: 20_000 }, () => {
  it('at DEBUG, requests and refusals are logged with protocol HTTP; at NONE nothing is', async () => {
    const lines: Record<string, unknown>[] = [];
    const t = await setup({ registry: { logLevel: 'DEBUG' }, logLines: lines });
    const c = await t.caller('dev-1');
    await t.bridge.publishEvent(c, { data: data(3), subFolder: 'a', gatewayInfo: undefined });
    await t.bridge.setState(c, { data: data(2), gatewayInfo: undefined });
    await t.bridge.getConfig(c, { localVersion: 0, gatewayInfo: undefined });
    await assert.rejects(t.bridge.setState(c, { data: data(2), gatewayInfo: undefined }));
    const logs = lines.filter((l) => l.deviceLog === true);
    assert.deepEqual(logs.map((l) => [l.eventType, l.protocol, l.deviceId]), [
      ['PUBLISH', 'HTTP', 'dev-1'],
      ['SET_STATE', 'HTTP', 'dev-1'],
      ['GET_CONFIG', 'HTTP', 'dev-1'],
      ['ERROR', 'HTTP', 'dev-1'],
    ]);
    assert.deepEqual((logs[3]!.status as { code: number }).code, 8);

    const quiet: Record<string, unknown>[] = [];
    const q = await setup({ registry: { logLevel: 'NONE' }, logLines: quiet });
    await q.bridge.publishEvent(await q.caller('dev-1'), { data: data(3), subFolder: '', gatewayInfo: undefined });
    assert.deepEqual(quiet.filter((l) => l.deviceLog === true), []);
  });
});
