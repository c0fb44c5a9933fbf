import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, startServer, type StartedServer } from '../support/server.js';
import { createDevice, createRegistry, devicePath, mqttUrl, type TestDevice } from '../support/fleet.js';
import { pollFor } from '../support/mqtt-clients.js';
import { adminSnapshot, assertServerHealthy, disconnects, serverRss } from '../support/mqtt-health.js';
import { closedWithin, decodeAll, encode, openRaw, receivedAtLeast } from '../support/mqtt-raw.js';

/**
 * Devices that never acknowledge or never read, on a server without the per-connection rate limit
 * (`--mqtt-max-msgs-per-sec 0`, as gateways at volume run it), so that the bounds behind it are
 * what holds: QoS 1 deliveries awaiting a PUBACK (docs/compat.md C-MQTT-UNACKED) and bytes the
 * peer leaves unread (C-MQTT-BACKLOG). Both once ended the process or took gigabytes of memory.
 */

const REG = 'reg-slow';
const MiB = 1024 * 1024;

describe('MQTT bridge: devices that do not acknowledge or do not read', () => {
  let server: StartedServer;
  let good: TestDevice;
  let big: TestDevice;
  let baseline: unknown;

  const connectBytes = async (d: TestDevice): Promise<Buffer> =>
    encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: d.clientId, keepalive: 60, username: 'unused', password: Buffer.from(await d.jwt()) });

  const configSubscribes = (d: TestDevice, n: number, qos: 0 | 1): Buffer =>
    Buffer.concat(Array.from({ length: n }, (_, i) => encode({ cmd: 'subscribe', messageId: (i % 65_535) + 1, subscriptions: [{ topic: `/devices/${d.id}/config`, qos }] })));

  const assertHealthy = (): Promise<void> => assertServerHealthy(server, REG, good, baseline);

  before(async () => {
    server = await startServer({ args: ['--mqtt-max-msgs-per-sec', '0'] });
    await createRegistry(server, REG);
    good = await createDevice(server, REG, 'good-dev');
    big = await createDevice(server, REG, 'big-config-dev');
    // The largest config there is (64 KiB).
    const set = await api(server, 'POST', `${devicePath(REG, big.id)}:modifyCloudToDeviceConfig`, { binaryData: Buffer.alloc(64 * 1024, 0x5a).toString('base64') });
    assert.equal(set.status, 200);
    baseline = await adminSnapshot(server, REG);
  });
  after(async () => {
    await server.cleanup();
  });

  it('66,000 QoS 1 config SUBSCRIBEs never acknowledged: closed at 4,096 awaiting a PUBACK, never out of packet IDs', async () => {
    const raw = await openRaw(mqttUrl(server));
    raw.socket.write(await connectBytes(good));
    await receivedAtLeast(raw, 4);
    raw.socket.write(configSubscribes(good, 66_000, 1));
    await closedWithin(raw, 20_000);
    assert.equal(await disconnects(server, 'too-many-unacked-messages'), 1);
    const deliveries = decodeAll(raw.received()).filter((p) => p.cmd === 'publish');
    assert.equal(deliveries.length, 4096);
    await assertHealthy();
  });

  it('a device that stops reading and keeps subscribing to its 64 KiB config is dropped; memory stays bounded and comes back', async () => {
    const rssBefore = await serverRss(server);
    const raw = await openRaw(mqttUrl(server));
    raw.socket.write(await connectBytes(big));
    await receivedAtLeast(raw, 4);
    // From now on nothing is read: what the server sends piles up in the kernel, then in the server.
    raw.socket.pause();
    raw.socket.write(configSubscribes(big, 20_000, 0));
    let peak = rssBefore;
    await pollFor(
      'the slow reader dropped',
      async () => {
        peak = Math.max(peak, await serverRss(server));
        return (await disconnects(server, 'write-backlog-exceeded')) === 1 ? true : undefined;
      },
      15_000,
      50,
    );
    raw.socket.destroy();
    // The unread bytes the server holds are bounded at 2 MiB, and a burst of SUBSCRIBEs reads the
    // config once; the rest is the garbage collector's slack (unbounded, this was gigabytes).
    assert.ok(peak - rssBefore < 80 * MiB, `server RSS grew by ${((peak - rssBefore) / MiB).toFixed(0)} MiB`);
    await assertHealthy();
    const rssAfter = await serverRss(server);
    assert.ok(rssAfter - rssBefore < 50 * MiB, `server RSS after: +${((rssAfter - rssBefore) / MiB).toFixed(0)} MiB`);
  });
});
