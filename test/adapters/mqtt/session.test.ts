import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Packet } from 'mqtt-packet';
import { makeDeviceKeys } from '../../support/pki.js';
import { SessionDirectory } from '../../../src/services/session-directory.js';
import {
  ALERTS_TOPIC,
  clientIdOf,
  connack,
  connectPacket,
  connectedDevice,
  Harness,
  LOCATION,
  outPublish,
  PROJECT,
  publish,
  puback,
  subscribe,
  T0,
  TELEMETRY_TOPIC,
} from './harness.js';

/**
 * MqttSession lifecycle without sockets (spec §4, §5.2): CONNECT, authentication outcomes,
 * pipelining behind CONNECT, timeouts, takeover and server-side ends.
 */

const T0S = Math.floor(T0 / 1000);
const AUTH_FAILED = /^mqtt: SERVER: Authentication failed: /;

describe('MqttSession: CONNECT', () => {
  test('a first packet other than CONNECT closes the connection without an answer', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { session, transport } = h.open();
    session.handle({ cmd: 'pingreq' });
    assert.deepEqual(transport.sent, []);
    assert.equal(transport.closes, 1);
    assert.equal(session.phase, 'closing');
    assert.deepEqual(h.metrics.reasons, ['protocol-error']);
    // Whatever follows is ignored, even a valid CONNECT: nothing is even authenticated.
    session.handle(connectPacket(clientIdOf('dev-1'), h.token('dev-1')));
    assert.deepEqual(h.io.requests, []);
    assert.deepEqual(transport.sent, []);
    assert.equal(h.directory.size, 0);
  });

  for (const [label, over] of [
    ['MQTT 3.1 (MQIsdp, level 3)', { protocolId: 'MQIsdp', protocolVersion: 3 }],
    ['MQTT 5 (level 5)', { protocolId: 'MQTT', protocolVersion: 5 }],
  ] as const) {
    test(`${label} gets CONNACK 1 and is closed (docs/compat.md C-MQTT-LEVEL)`, async () => {
      const h = await Harness.create();
      await h.addDevice('dev-1');
      const { session, transport } = h.open();
      session.handle(connectPacket(clientIdOf('dev-1'), h.token('dev-1'), 60, over));
      assert.deepEqual(transport.sent, [connack(1)]);
      assert.deepEqual(h.io.requests, [], 'no authentication is attempted');
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, ['unsupported-protocol']);
      assert.equal(h.directory.size, 0);
    });
  }

  for (const alg of ['ES256', 'RS256'] as const) {
    test(`a valid ${alg} JWT gets CONNACK 0; the session is registered and the heartbeat recorded`, async () => {
      const h = await Harness.create();
      const d = await h.addDevice('dev-1', { alg });
      const { session, transport } = await h.connect('dev-1', { token: h.token('dev-1', { iat: T0S, exp: T0S + 3600 }) });
      assert.deepEqual(transport.sent, [connack(0)]);
      assert.equal(transport.closes, 0);
      assert.equal(session.phase, 'connected');
      assert.equal(h.directory.get(d.device.numId), session);
      // Disconnect forced at exp + 10 min of skew (spec §4.2 step 6).
      assert.equal(session.jwtDeadline, (T0S + 3600 + 600) * 1000);
      assert.equal(session.keepaliveMs, 60_000);
      const stored = await h.flushedDevice('dev-1');
      assert.equal(stored.lastHeartbeatTime, T0);
      assert.equal(stored.lastErrorStatus, undefined);
    });
  }

  test('the numeric device ID is accepted in the client ID (docs/compat.md C-MQTT-NUMID)', async () => {
    const h = await Harness.create();
    const d = await h.addDevice('dev-1');
    const { session, transport } = h.open();
    session.handle(connectPacket(clientIdOf(d.device.numId), h.token('dev-1')));
    await h.io.answer(h.io.take('auth'));
    assert.deepEqual(transport.sent, [connack(0)]);
    // Topics still use the string ID.
    session.handle(publish('/devices/dev-1/events', 'x', 1, 3));
    h.io.commitNextEvent();
    assert.deepEqual(transport.sent, [connack(0), puback(3)]);
  });

  test('any username (empty or absent), will, retain and clean=0 are accepted and ignored (docs/compat.md C-MQTT-FLAGS)', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const variants = [
      { username: '' },
      { username: undefined },
      { clean: false, will: { topic: '/devices/dev-1/events', payload: Buffer.from('bye'), qos: 1 as const, retain: true } },
    ];
    for (const packet of variants) {
      const { session, transport } = await h.connect('dev-1', { packet });
      assert.deepEqual(transport.sent, [connack(0)], JSON.stringify(packet));
      session.socketClosed('socket-closed');
    }
    // The will was never published.
    assert.deepEqual(h.io.pending('event'), []);
    assert.deepEqual(h.io.pending('state'), []);
  });

  test('a JWT within the clock skew is accepted: iat 599 s ahead, exp 300 s past, lifetime 24 h + 10 min', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    for (const [iat, exp] of [
      [T0S + 599, T0S + 3600],
      [T0S - 3600, T0S - 300],
      [T0S, T0S + 24 * 3600 + 600],
    ] as const) {
      const { session, transport } = await h.connect('dev-1', { token: h.token('dev-1', { iat, exp }) });
      assert.deepEqual(transport.sent, [connack(0)], `iat ${iat - T0S}, exp ${exp - T0S}`);
      assert.equal(session.jwtDeadline, (exp + 600) * 1000);
    }
  });

  describe('authentication failures get CONNACK 5 (spec §4.3)', () => {
    const cases: {
      name: string;
      reason: string;
      known: boolean;
      setup?: (h: Harness) => Promise<void>;
      clientId?: string;
      token?: (h: Harness) => string | Promise<string> | undefined;
    }[] = [
      { name: 'client ID that is not a device name', reason: 'bad-client-id', known: false, clientId: 'dev-1' },
      {
        name: 'unknown registry',
        reason: 'unknown-registry',
        known: false,
        clientId: `projects/${PROJECT}/locations/${LOCATION}/registries/no-such-reg/devices/dev-1`,
      },
      { name: 'unknown device', reason: 'unknown-device', known: false, clientId: clientIdOf('ghost-device') },
      { name: 'no password', reason: 'no-password', known: true, token: () => undefined },
      { name: 'a password that is not a JWT', reason: 'malformed-jwt', known: true, token: () => 'not-a-jwt' },
      { name: 'wrong audience', reason: 'wrong-audience', known: true, token: (h) => h.token('dev-1', { aud: 'other-project' }) },
      { name: 'expired beyond the skew', reason: 'expired', known: true, token: (h) => h.token('dev-1', { iat: T0S - 7200, exp: T0S - 601 }) },
      { name: 'iat in the future beyond the skew', reason: 'issued-in-future', known: true, token: (h) => h.token('dev-1', { iat: T0S + 601 }) },
      {
        name: 'lifetime over 24 h (+ skew)',
        reason: 'lifetime-too-long',
        known: true,
        token: (h) => h.token('dev-1', { iat: T0S, exp: T0S + 24 * 3600 + 601 }),
      },
      { name: 'alg none', reason: 'unsupported-alg', known: true, token: (h) => h.token('dev-1', { alg: 'none' }) },
      { name: 'HS256', reason: 'unsupported-alg', known: true, token: (h) => h.token('dev-1', { alg: 'HS256' }) },
      {
        name: 'signed by another key',
        reason: 'bad-signature',
        known: true,
        token: async (h) => h.token('dev-1', { key: (await makeDeviceKeys('ES256')).privateKeyPem }),
      },
      {
        name: 'RS256 token for an ES256 device',
        reason: 'bad-signature',
        known: true,
        token: async (h) => h.token('dev-1', { alg: 'RS256', key: (await makeDeviceKeys('RS256')).privateKeyPem }),
      },
      {
        name: 'blocked device',
        reason: 'blocked',
        known: true,
        setup: async (h) => {
          const d = h.dev('dev-1').device;
          await h.store.updateDevice({ ...d, blocked: true });
        },
      },
      {
        name: 'registry with MQTT disabled',
        reason: 'mqtt-disabled',
        known: true,
        setup: async (h) => {
          await h.store.updateRegistry({ ...h.registry, mqttEnabledState: 'MQTT_DISABLED' });
        },
      },
    ];
    for (const c of cases) {
      test(c.name, async () => {
        const h = await Harness.create();
        const d = await h.addDevice('dev-1');
        await c.setup?.(h);
        const token = c.token ? await c.token(h) : h.token('dev-1');
        const { session, transport } = h.open();
        session.handle(connectPacket(c.clientId ?? clientIdOf('dev-1'), token));
        await h.io.answer(h.io.take('auth'));
        assert.deepEqual(transport.sent, [connack(5)]);
        assert.equal(transport.closes, 1);
        assert.equal(session.phase, 'closing');
        assert.deepEqual(h.metrics.authReasons, [c.reason]);
        assert.deepEqual(h.metrics.reasons, ['auth-failed']);
        assert.equal(h.directory.size, 0);
        if (c.known) {
          const stored = await h.flushedDevice('dev-1');
          assert.equal(stored.lastErrorTime, T0);
          assert.equal(stored.lastErrorStatus?.code, 16);
          assert.match(stored.lastErrorStatus?.message ?? '', AUTH_FAILED);
          assert.equal(stored.lastHeartbeatTime, undefined);
        } else {
          assert.equal(h.activity.size, 0, 'nothing is recorded against any device');
          const stored = await h.store.getDeviceByNumId(d.device.numId);
          assert.equal(stored?.lastErrorStatus, undefined);
        }
        // Packets after the refusal are ignored.
        session.handle({ cmd: 'pingreq' });
        assert.deepEqual(transport.sent, [connack(5)]);
      });
    }
  });

  test('authentication that could not be carried out (store unavailable) gets CONNACK 3, server unavailable', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { session, transport } = h.open();
    session.handle(connectPacket(clientIdOf('dev-1'), h.token('dev-1')));
    session.handle({ cmd: 'pingreq' });
    h.io.fail(h.io.take('auth'), new Error('store down'));
    assert.deepEqual(transport.sent, [connack(3)], 'held packets are dropped');
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['auth-failed']);
    assert.deepEqual(h.metrics.authReasons, [], 'not the device failing to authenticate');
    assert.equal(h.directory.size, 0);
  });

  for (const [change, reason] of [
    ['blocked', 'device-blocked'],
    ['deleted', 'device-deleted'],
    ['its key removed', 'credentials-changed'],
  ] as const) {
    test(`a device ${change} while it authenticated is ended once the session holds it (docs/compat.md C-MQTT-REVOKE)`, async () => {
      const h = await Harness.create();
      const d = await h.addDevice('dev-1');
      const { session, transport } = await h.connected('dev-1');
      const recheck = h.io.take('recheck', session);
      assert.equal(recheck.numId, d.device.numId);
      // The API's change found no session in the directory yet; the store has it.
      if (change === 'deleted') await h.store.deleteDevice(d.device.numId);
      else await h.store.updateDevice({ ...d.device, ...(change === 'blocked' ? { blocked: true } : { credentials: [] }) });
      await h.io.answer(recheck);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, [reason]);
    });
  }

  test('a directory that heard no revocation while the device authenticated: no second read; one that did: re-read (C-MQTT-REVOKE)', async () => {
    const h = await Harness.create();
    let revocations = 0;
    h.env.directory = Object.assign(new SessionDirectory(), {
      revocationMark: () => revocations,
      unchangedSince: (mark: number) => mark === revocations,
    });
    await h.addDevice('dev-1');
    await h.addDevice('dev-2');
    await h.connected('dev-1');
    assert.deepEqual(h.io.requests.filter((r) => r.kind === 'recheck'), []);
    const c = h.open('dev-2');
    c.session.handle(connectPacket(clientIdOf('dev-2'), h.token('dev-2'), 60));
    revocations++; // e.g. another device was blocked meanwhile
    await h.io.answer(h.io.take('auth', c.session));
    assert.equal(c.session.phase, 'connected');
    assert.equal(h.io.take('recheck', c.session).numId, h.dev('dev-2').device.numId);
  });

  test('the re-check after CONNECT leaves an unchanged device connected', async () => {
    const { h, session, transport } = await connectedDevice();
    await h.io.answer(h.io.take('recheck', session));
    assert.equal(transport.closes, 0);
    session.handle({ cmd: 'pingreq' });
    assert.deepEqual(transport.sent, [{ cmd: 'pingresp' }]);
  });

  test('a bug while the session handles an answer closes its connection (internal-error, docs/compat.md C-MQTT-FAULTS)', async () => {
    const { h, session, transport } = await connectedDevice();
    session.answerCrashed(new Error('bug'));
    assert.ok(transport.closes > 0);
    assert.equal(session.phase, 'closing');
    assert.deepEqual(h.metrics.reasons, ['internal-error']);
  });

  test('SUBSCRIBE and PUBLISH pipelined behind CONNECT are answered after the CONNACK, in order', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1', { config: Buffer.from('cfg-1') });
    const { session, transport } = h.open();
    session.handle(connectPacket(clientIdOf('dev-1'), h.token('dev-1')));
    session.handle(subscribe(1, ['/devices/dev-1/config', 1]));
    session.handle(publish('/devices/dev-1/events', 'early', 1, 2));
    session.handle({ cmd: 'pingreq' });
    assert.equal(session.phase, 'authenticating');
    assert.deepEqual(transport.sent, [], 'nothing is answered before the CONNACK');
    assert.deepEqual(h.io.requests.map((r) => r.kind), ['auth'], 'held packets wait for the CONNACK');
    await h.io.answer(h.io.take('auth'));
    assert.deepEqual(transport.sent, [connack(0), { cmd: 'suback', messageId: 1, granted: [1] }, { cmd: 'pingresp' }]);
    assert.equal(h.io.uncommitted[0]?.topic, TELEMETRY_TOPIC);
    await h.io.answer(h.io.take('config'));
    assert.deepEqual(transport.take(), [
      connack(0),
      { cmd: 'suback', messageId: 1, granted: [1] },
      { cmd: 'pingresp' },
      outPublish('/devices/dev-1/config', 'cfg-1', 1, 1),
    ]);
    h.io.commitNextEvent();
    assert.deepEqual(transport.sent, [puback(2)]);
  });

  test('a held PUBLISH on a forbidden topic closes the connection right after the CONNACK; later held packets are dropped', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    await h.addDevice('dev-2');
    const { session, transport } = h.open();
    session.handle(connectPacket(clientIdOf('dev-1'), h.token('dev-1')));
    session.handle(publish('/devices/dev-2/events', 'not mine', 1, 1));
    session.handle(subscribe(2, ['/devices/dev-1/config', 1]));
    await h.io.answer(h.io.take('auth'));
    assert.deepEqual(transport.sent, [connack(0)]);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['invalid-topic']);
    assert.deepEqual(h.io.pending('event'), []);
    assert.deepEqual(h.io.pending('config'), [], 'the held SUBSCRIBE was dropped');
  });

  test('more packets held behind CONNECT than allowed closes the connection without a CONNACK', async () => {
    const h = await Harness.create({ limits: { maxPendingBeforeConnack: 4 } });
    await h.addDevice('dev-1');
    const { session, transport } = h.open();
    session.handle(connectPacket(clientIdOf('dev-1'), h.token('dev-1')));
    for (let i = 0; i < 4; i++) session.handle({ cmd: 'pingreq' });
    assert.equal(transport.closes, 0);
    session.handle({ cmd: 'pingreq' });
    assert.equal(transport.closes, 1);
    // Authentication ending after the close changes nothing.
    await h.io.answer(h.io.take('auth'));
    assert.deepEqual(transport.sent, []);
    assert.deepEqual(h.metrics.reasons, ['too-many-pending-packets']);
    assert.equal(h.directory.size, 0);
  });

  test('a second CONNECT on a live connection is a protocol error', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle(connectPacket(clientIdOf('dev-1'), h.token('dev-1')));
    assert.deepEqual(transport.sent, []);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['protocol-error']);
    assert.deepEqual(h.io.pending('auth'), []);
  });
});

describe('MqttSession: timers driven by tick()', () => {
  test('connect timeout: no CONNECT within connectTimeoutMs closes the socket', async () => {
    const h = await Harness.create();
    const { session, transport } = h.open();
    session.tick(T0 + 9_999);
    assert.equal(transport.closes, 0);
    session.tick(T0 + 10_000);
    assert.equal(transport.closes, 1);
    assert.deepEqual(transport.sent, []);
    assert.deepEqual(h.metrics.reasons, ['connect-timeout']);
  });

  test('keep-alive: 1.5 × the client value without any packet closes; every packet restarts the count', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { session, transport } = await h.connected('dev-1', { keepalive: 10 });
    session.tick(T0 + 14_999);
    assert.equal(transport.closes, 0);
    h.clock.t = T0 + 14_000;
    session.handle({ cmd: 'pingreq' });
    assert.deepEqual(transport.take(), [{ cmd: 'pingresp' }]);
    session.tick(T0 + 28_999);
    assert.equal(transport.closes, 0);
    session.tick(T0 + 29_000);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['keepalive-timeout']);
    const stored = await h.flushedDevice('dev-1');
    assert.equal(stored.lastHeartbeatTime, T0 + 14_000, 'PINGREQ records a heartbeat');
  });

  for (const keepalive of [0, 3600]) {
    test(`idle cutoff: 20 minutes without a packet closes even with keep-alive ${keepalive}`, async () => {
      const h = await Harness.create();
      await h.addDevice('dev-1');
      const { session, transport } = await h.connected('dev-1', { keepalive, token: h.token('dev-1', { exp: T0S + 7200 }) });
      session.tick(T0 + 20 * 60_000 - 1);
      assert.equal(transport.closes, 0);
      session.tick(T0 + 20 * 60_000);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, ['idle-timeout']);
    });
  }

  test('JWT expiry: the connection is closed at exp + 10 minutes and lastErrorStatus says why', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    const { session, transport } = await h.connected('dev-1', { keepalive: 0, token: h.token('dev-1', { iat: T0S, exp: T0S + 60 }) });
    const deadline = (T0S + 60 + 600) * 1000;
    session.tick(deadline - 1);
    assert.equal(transport.closes, 0);
    h.clock.t = deadline;
    session.tick(deadline);
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['jwt-expired']);
    const stored = await h.flushedDevice('dev-1');
    assert.equal(stored.lastErrorStatus?.code, 16);
    assert.match(stored.lastErrorStatus?.message ?? '', /^mqtt: SERVER: .*expired/);
    assert.equal(stored.lastErrorTime, deadline);
  });
});

describe('MqttSession: ends', () => {
  test('a second connection for the same device takes over: the first is closed as session-taken-over (ALREADY_EXISTS)', async () => {
    const h = await Harness.create();
    const d = await h.addDevice('dev-1');
    const a = await h.connected('dev-1');
    h.clock.t = T0 + 5_000;
    const b = await h.connected('dev-1');
    assert.equal(a.transport.closes, 1);
    assert.equal(a.session.phase, 'closing');
    assert.equal(b.transport.closes, 0);
    assert.deepEqual(h.metrics.reasons, ['session-taken-over']);
    assert.equal(h.directory.get(d.device.numId), b.session);
    const stored = await h.flushedDevice('dev-1');
    assert.equal(stored.lastErrorStatus?.code, 6, 'ALREADY_EXISTS');
    assert.match(stored.lastErrorStatus?.message ?? '', /^mqtt: SERVER: .*same device ID/);
    assert.equal(stored.lastErrorTime, T0 + 5_000);
    // The old socket going away does not unregister the new session.
    a.session.socketClosed('socket-closed');
    assert.equal(a.session.phase, 'closed');
    assert.equal(h.directory.get(d.device.numId), b.session);
    b.session.handle({ cmd: 'pingreq' });
    assert.deepEqual(b.transport.sent, [{ cmd: 'pingresp' }]);
  });

  for (const reason of ['device-blocked', 'device-deleted', 'credentials-changed'] as const) {
    test(`end(${reason}) closes the device's connection and socketClosed releases it`, async () => {
      const { h, d, session, transport } = await connectedDevice();
      h.directory.get(d.device.numId)?.end(d.device.numId, reason);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, [reason]);
      session.socketClosed('socket-closed');
      assert.equal(session.phase, 'closed');
      assert.equal(h.directory.size, 0);
    });
  }

  test('DISCONNECT from the client closes without recording an error', async () => {
    const { h, session, transport } = await connectedDevice();
    session.handle({ cmd: 'disconnect' });
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['client-disconnect']);
    session.socketClosed('socket-closed');
    assert.equal(h.directory.size, 0);
    const stored = await h.flushedDevice('dev-1');
    assert.equal(stored.lastErrorStatus, undefined);
  });

  test('a socket that dies under a live session closes it once and releases the device', async () => {
    const { h, session, transport } = await connectedDevice();
    session.socketClosed('socket-error');
    session.socketClosed('socket-closed');
    assert.equal(session.phase, 'closed');
    assert.equal(transport.closes, 1);
    assert.deepEqual(h.metrics.reasons, ['socket-error']);
    assert.equal(h.directory.size, 0);
  });

  for (const kind of ['attach', 'detach'] as const) {
    test(`${kind} from a non-gateway device closes the connection (spec §6.1)`, async () => {
      const { h, session, transport } = await connectedDevice();
      session.handle(publish(`/devices/dev-1/${kind}`, '{}', 1, 5));
      assert.deepEqual(transport.sent, [], 'no PUBACK');
      assert.deepEqual(h.io.pending('attach'), []);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, ['control-message-from-non-gateway']);
    });
  }

  test('attach for another device from a non-gateway closes the connection', async () => {
    const h = await Harness.create();
    await h.addDevice('dev-1');
    await h.addDevice('dev-2');
    const { session, transport } = await h.connected('dev-1');
    session.handle(publish('/devices/dev-2/attach', '{"authorization":""}', 1, 5));
    assert.deepEqual(transport.sent, []);
    assert.deepEqual(h.io.pending('attach'), []);
    assert.equal(transport.closes, 1);
    assert.equal(h.metrics.reasons.length, 1);
    assert.ok(['invalid-topic', 'control-message-from-non-gateway'].includes(h.metrics.reasons[0]!), h.metrics.reasons[0]);
  });

  for (const p of [
    { cmd: 'pubrec', messageId: 1 },
    { cmd: 'pubrel', messageId: 1 },
    { cmd: 'connack', returnCode: 0, sessionPresent: false },
  ] as Packet[]) {
    test(`an unexpected ${p.cmd} from a device is a protocol error`, async () => {
      const { h, session, transport } = await connectedDevice();
      session.handle(p);
      assert.deepEqual(transport.sent, []);
      assert.equal(transport.closes, 1);
      assert.deepEqual(h.metrics.reasons, ['protocol-error']);
    });
  }

  test('a PUBACK for nothing the bridge sent is ignored on a device connection', async () => {
    const { session, transport } = await connectedDevice();
    session.handle(puback(42));
    session.handle({ cmd: 'pingreq' });
    assert.deepEqual(transport.sent, [{ cmd: 'pingresp' }]);
    assert.equal(transport.closes, 0);
  });

  test('telemetry routed by subfolder uses the registry as changed after connect', async () => {
    const { h, session, transport } = await connectedDevice();
    // The API drops the alerts route; the cache is refreshed as on a registry-changed bus event.
    const changed = { ...h.registry, eventNotificationConfigs: [{ pubsubTopicName: TELEMETRY_TOPIC, subfolderMatches: '' }] };
    await h.store.updateRegistry(changed);
    await h.registries.refresh(`projects/${PROJECT}/locations/${LOCATION}/registries/${h.registry.registry}`);
    session.handle(publish('/devices/dev-1/events/alerts', 'a', 0));
    assert.equal(h.io.uncommitted.length, 1);
    assert.equal(h.io.uncommitted[0]?.topic, TELEMETRY_TOPIC);
    assert.notEqual(h.io.uncommitted[0]?.topic, ALERTS_TOPIC);
    assert.equal(transport.closes, 0);
  });
});
