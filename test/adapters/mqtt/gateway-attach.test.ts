import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { GatewayAuthMethod } from '../../../src/domain/model.js';
import {
  assertAttachmentError,
  assertLastError,
  attach,
  attached,
  detach,
  errorTypes,
  gatewayConn,
  gatewayHarness,
  withGateway,
  withToken,
} from './gateway-harness.js';
import { LOCATION, PROJECT, publish, REGISTRY, subscribe, T0, TELEMETRY_TOPIC, type Harness, type TokenOptions } from './harness.js';

/**
 * Gateway attach and detach on the MQTT session, without sockets (spec §6.2-§6.4, §6.6): what
 * attaches under each auth method, every GATEWAY_ATTACHMENT_ERROR trigger, acknowledgements.
 */

describe('gateway attach succeeds (spec §6.2, §6.3)', () => {
  test('ASSOCIATION_ONLY: a bound device attaches with {"authorization":""}; PUBACK, directory, lastAccessedGatewayId', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'], config: 'cfg-v1' });
    h.clock.advance(1500);
    await attached(gw, 'sensor-1', 11);
    assert.equal(h.directory.get(h.numId('sensor-1')), gw.session);
    assert.equal(gw.session.gatewayNumId(h.numId('sensor-1')), h.numId('gw-1'));
    // Association only: no credential to revoke the attachment by.
    assert.equal(gw.session.credentialKey(h.numId('sensor-1')), undefined);
    // `attached` answered every request, the record of the gateway access among them.
    const stored = await h.store.getDeviceByNumId(h.numId('sensor-1'));
    assert.equal(stored?.gatewayConfig.lastAccessedGatewayId, 'gw-1');
    assert.equal(stored?.gatewayConfig.lastAccessedGatewayTime, T0 + 1500);
    assert.equal(gw.open, true);
  });

  test('the attached device has its own traffic: events attributed to it, state stored on it, config and commands', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'], config: 'cfg-v1' });
    await attached(gw, 'sensor-1', 1);

    gw.send(publish('/devices/sensor-1/events/temp', '21.5', 1, 2));
    await gw.expectPuback(2);
    assert.equal(h.io.committed.length, 1);
    assert.deepEqual(h.io.committed[0]!.attributes, {
      deviceId: 'sensor-1',
      deviceNumId: h.numId('sensor-1'),
      deviceRegistryId: REGISTRY,
      deviceRegistryLocation: LOCATION,
      projectId: PROJECT,
      subFolder: 'temp',
    });
    assert.equal(h.io.committed[0]!.topic, TELEMETRY_TOPIC);

    gw.send(publish('/devices/sensor-1/state', 'ok', 1, 3));
    await gw.expectPuback(3);
    assert.deepEqual(gw.transport.take(), [
      { cmd: 'puback', messageId: 2 },
      { cmd: 'puback', messageId: 3 },
    ]);
    const states = await h.store.listStates(h.numId('sensor-1'), 10);
    assert.equal(Buffer.from(states[0]!.binaryData).toString(), 'ok');
    assert.deepEqual(await h.store.listStates(h.numId('gw-1'), 10), []);

    gw.send(subscribe(4, ['/devices/sensor-1/config', 0], ['/devices/sensor-1/commands/#', 0]));
    await gw.expect((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config', 'config delivery');
    const out = gw.transport.take();
    assert.deepEqual(out[0], { cmd: 'suback', messageId: 4, granted: [0, 0] });
    const config = out.find((p) => p.cmd === 'publish' && p.topic === '/devices/sensor-1/config');
    assert.ok(config?.cmd === 'publish');
    assert.equal((config.payload as Buffer).toString(), 'cfg-v1');

    assert.equal(await gw.session.sendCommand(h.numId('sensor-1'), 'sys', Buffer.from('reboot')), true);
    const cmd = gw.transport.take();
    assert.equal(cmd.length, 1);
    assert.ok(cmd[0]?.cmd === 'publish');
    assert.equal(cmd[0].topic, '/devices/sensor-1/commands/sys');
    assert.equal((cmd[0].payload as Buffer).toString(), 'reboot');
    assert.equal(gw.open, true);
  });

  const payloads: [string, string | Buffer][] = [
    ['an empty payload', Buffer.alloc(0)],
    ['{}', '{}'],
    ['{"authorization" : ""} (python sample)', '{"authorization" : ""}'],
    ['a device JWT, which ASSOCIATION_ONLY ignores', '{"authorization":"not.even.a-jwt"}'],
    ["the Node sample's single-quoted form", "{ 'authorization' : abc.def.ghi }"],
  ];
  for (const [label, payload] of payloads) {
    test(`ASSOCIATION_ONLY accepts ${label}`, async () => {
      const { gw } = await withGateway({ bound: ['sensor-1'] });
      gw.send(attach('sensor-1', 5, payload));
      assert.deepEqual(await gw.sync(), [{ cmd: 'puback', messageId: 5 }]);
    });
  }

  test('attaching an attached device (or the gateway itself) is acknowledged again (spec §6.4)', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'] });
    await attached(gw, 'sensor-1', 1);
    await attached(gw, 'sensor-1', 2);
    await attached(gw, 'gw-1', 3);
    assert.equal(gw.session.slots.size, 2);
    assert.equal(h.directory.get(h.numId('sensor-1')), gw.session);
  });

  test('detach acknowledges, ends the attachment; detaching a device that is not attached is still acknowledged (spec §6.4)', async () => {
    const { h, gw } = await withGateway({ bound: ['sensor-1'], unbound: ['sensor-2'] });
    await attached(gw, 'sensor-1', 1);
    gw.send(detach('sensor-1', 2));
    assert.deepEqual(await gw.sync(), [{ cmd: 'puback', messageId: 2 }]);
    assert.equal(h.directory.get(h.numId('sensor-1')), undefined);
    assert.equal(gw.session.slots.has('sensor-1'), false);
    // Not attached (any more), bound or not, or not even existing: ignored and acknowledged.
    gw.send(detach('sensor-1', 3), detach('sensor-2', 4), detach('nobody', 5));
    assert.deepEqual(await gw.sync(), [
      { cmd: 'puback', messageId: 3 },
      { cmd: 'puback', messageId: 4 },
      { cmd: 'puback', messageId: 5 },
    ]);
    // After the detach, the device's traffic is refused again.
    gw.send(publish('/devices/sensor-1/events', 'x', 1, 6));
    assert.deepEqual(errorTypes(await gw.sync(), 'gw-1'), ['GATEWAY_DEVICE_NOT_FOUND']);
    // A command to a detached device is not delivered through the gateway.
    assert.equal(await gw.session.sendCommand(h.numId('sensor-1'), '', Buffer.from('x')), false);
    assert.equal(gw.open, true);
  });
});

describe('GATEWAY_ATTACHMENT_ERROR (spec §6.2, §6.6)', () => {
  const unbound = async (h: Harness): Promise<void> => void (await h.addDevice('sensor-1'));
  const bound = async (h: Harness): Promise<void> => {
    await h.addDevice('sensor-1');
    await h.bind('gw-1', 'sensor-1');
  };
  const tokenOf = (id: string, o?: TokenOptions) => (h: Harness): string => withToken(h.token(id, o));
  const raw = (payload: string) => (): string => payload;

  const cases: {
    label: string;
    method: GatewayAuthMethod;
    setup: (h: Harness) => Promise<void>;
    /** The device to attach: sensor-1 unless given. */
    device?: string;
    /** The attach payload: {"authorization":""} unless given. */
    payload?: (h: Harness) => string;
    reason: RegExp;
  }[] = [
    { label: 'unknown device', method: 'ASSOCIATION_ONLY', setup: async () => undefined, device: 'ghost', reason: /does not exist/ },
    { label: 'unbound device under ASSOCIATION_ONLY', method: 'ASSOCIATION_ONLY', setup: unbound, reason: /not bound/ },
    {
      label: 'blocked bound device',
      method: 'ASSOCIATION_ONLY',
      setup: async (h) => {
        await h.addDevice('sensor-1', { blocked: true });
        await h.bind('gw-1', 'sensor-1');
      },
      reason: /blocked/,
    },
    {
      label: 'GATEWAY_AUTH_METHOD_UNSPECIFIED, even for a bound device with its valid JWT',
      method: 'GATEWAY_AUTH_METHOD_UNSPECIFIED',
      setup: bound,
      payload: tokenOf('sensor-1'),
      reason: /no gatewayAuthMethod/,
    },
    {
      label: 'another gateway, with its own valid JWT',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (h) => void (await h.addDevice('gw-2', { gateway: 'DEVICE_AUTH_TOKEN_ONLY' })),
      device: 'gw-2',
      payload: tokenOf('gw-2'),
      reason: /gateway cannot be attached/,
    },
    { label: 'missing JWT ({}) under DEVICE_AUTH_TOKEN_ONLY', method: 'DEVICE_AUTH_TOKEN_ONLY', setup: unbound, payload: raw('{}'), reason: /no device JWT/ },
    { label: 'empty authorization under DEVICE_AUTH_TOKEN_ONLY', method: 'DEVICE_AUTH_TOKEN_ONLY', setup: unbound, payload: raw('{"authorization":""}'), reason: /no device JWT/ },
    { label: 'empty payload under DEVICE_AUTH_TOKEN_ONLY', method: 'DEVICE_AUTH_TOKEN_ONLY', setup: unbound, payload: raw(''), reason: /no device JWT/ },
    {
      label: 'a JWT that is not a JWT under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: unbound,
      payload: raw('{"authorization":"garbage"}'),
      reason: /JWT is not valid/,
    },
    {
      label: "another device's JWT under DEVICE_AUTH_TOKEN_ONLY",
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: async (h) => {
        await h.addDevice('sensor-1');
        await h.addDevice('sensor-2');
      },
      payload: tokenOf('sensor-2'),
      reason: /JWT is not valid/,
    },
    { label: "the gateway's own JWT under DEVICE_AUTH_TOKEN_ONLY", method: 'DEVICE_AUTH_TOKEN_ONLY', setup: unbound, payload: tokenOf('gw-1'), reason: /JWT is not valid/ },
    {
      label: 'an expired JWT under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: unbound,
      // Expired 20 minutes ago: beyond the 10-minute skew (spec §4.1).
      payload: tokenOf('sensor-1', { iat: T0 / 1000 - 3600 - 1200 }),
      reason: /JWT is not valid/,
    },
    {
      label: 'a JWT for another project under DEVICE_AUTH_TOKEN_ONLY',
      method: 'DEVICE_AUTH_TOKEN_ONLY',
      setup: unbound,
      payload: tokenOf('sensor-1', { aud: 'other-project' }),
      reason: /JWT is not valid/,
    },
    {
      label: 'an unbound device with its valid JWT under ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
      method: 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
      setup: unbound,
      payload: tokenOf('sensor-1'),
      reason: /not bound/,
    },
    {
      label: 'a bound device without a JWT under ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
      method: 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN',
      setup: bound,
      payload: raw('{"authorization":""}'),
      reason: /no device JWT/,
    },
    { label: 'an unreadable payload ([1])', method: 'ASSOCIATION_ONLY', setup: bound, payload: raw('[1]'), reason: /not JSON of the form/ },
    { label: 'a numeric authorization', method: 'DEVICE_AUTH_TOKEN_ONLY', setup: unbound, payload: raw('{"authorization":5}'), reason: /not JSON of the form/ },
  ];

  for (const c of cases) {
    test(`${c.label}: no PUBACK, the error, the connection stays`, async () => {
      const device = c.device ?? 'sensor-1';
      const h = await gatewayHarness();
      await h.addDevice('gw-1', { gateway: c.method });
      await c.setup(h);
      const gw = await gatewayConn(h, 'gw-1');
      gw.send(attach(device, 77, c.payload ? c.payload(h) : '{"authorization":""}'));
      assertAttachmentError(await gw.sync(), 'gw-1', device, 77, c.reason);
      assert.equal(gw.open, true);
      assert.equal(gw.session.slots.has(device), false);
      if (device !== 'ghost') assert.equal(h.directory.get(h.numId(device)), undefined);
      // The connection keeps working: the gateway's own telemetry is acknowledged.
      gw.send(publish('/devices/gw-1/events', 'still here', 1, 78));
      await gw.expectPuback(78);
    });
  }

  test("the device's lastErrorStatus records the attachment error (docs/compat.md C-GW-ERRORS)", async () => {
    const { h, gw } = await withGateway({ unbound: ['sensor-1'] });
    h.clock.advance(2000);
    gw.send(attach('sensor-1', 1));
    assertAttachmentError(await gw.sync(), 'gw-1', 'sensor-1', 1);
    await assertLastError(h, 'sensor-1', 'GATEWAY_ATTACHMENT_ERROR');
    // The gateway's own status is untouched.
    assert.equal((await h.flushedDevice('gw-1')).lastErrorStatus, undefined);
  });

  test('attach limit: past maxAttachedPerGateway attaches fail until one detaches (spec §6.2)', async () => {
    const { gw } = await withGateway({ bound: ['s-1', 's-2', 's-3'], limits: { maxAttachedPerGateway: 2 } });
    await attached(gw, 's-1', 1);
    await attached(gw, 's-2', 2);
    gw.send(attach('s-3', 3));
    assertAttachmentError(await gw.sync(), 'gw-1', 's-3', 3, /already has 2 attached devices/);
    // Re-attaching an attached device at the limit is still fine.
    await attached(gw, 's-2', 4);
    gw.send(detach('s-1', 5));
    assert.deepEqual(await gw.sync(), [{ cmd: 'puback', messageId: 5 }]);
    await attached(gw, 's-3', 6);
    assert.equal(gw.open, true);
  });
});

describe('attach with device tokens (spec §6.2)', () => {
  test("DEVICE_AUTH_TOKEN_ONLY: an unbound device attaches with its own valid JWT, also in the Node sample's form", async () => {
    const { h, gw } = await withGateway({ method: 'DEVICE_AUTH_TOKEN_ONLY', unbound: ['sensor-1', 'sensor-2'] });
    await attached(gw, 'sensor-1', 1, withToken(h.token('sensor-1')));
    await attached(gw, 'sensor-2', 2, `{ 'authorization' : ${h.token('sensor-2')} }`);
    // The credential it attached with is remembered, so that removing it ends the attachment.
    assert.match(gw.session.credentialKey(h.numId('sensor-1')) ?? '', /^-----BEGIN PUBLIC KEY-----/);
  });

  test('ASSOCIATION_AND_DEVICE_AUTH_TOKEN: a bound device with its valid JWT attaches', async () => {
    const { h, gw } = await withGateway({ method: 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN', bound: ['sensor-1'] });
    await attached(gw, 'sensor-1', 1, withToken(h.token('sensor-1')));
  });
});
