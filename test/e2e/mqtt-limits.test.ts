import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDevice, createRegistry, mqttUrl, type TestDevice } from '../support/fleet.js';
import { connectDevice, endQuietly } from '../support/mqtt-clients.js';
import { closedWithin, openRaw, type RawSocket } from '../support/mqtt-raw.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * The connection limit (docs/compat.md C-MQTT-MAXCONN): past `--mqtt-max-connections` open
 * connections a new socket is closed at once, and the connections already open keep working.
 */
describe('MQTT connection limit', () => {
  let server: StartedServer;
  let device: TestDevice;
  const raws: RawSocket[] = [];

  before(async () => {
    server = await startServer({ args: ['--mqtt-max-connections', '3'] });
    await createRegistry(server, 'reg-limits');
    device = await createDevice(server, 'reg-limits', 'dev-limits');
  });
  after(async () => {
    for (const r of raws) r.socket.destroy();
    await server.cleanup();
  });

  it('closes the socket over the limit at once and keeps serving the open connections', async () => {
    // Two idle sockets and one real device fill the three places.
    raws.push(await openRaw(mqttUrl(server)), await openRaw(mqttUrl(server)));
    const client = await connectDevice(server, device.clientId, await device.jwt());
    try {
      const over = await openRaw(mqttUrl(server));
      raws.push(over);
      // Far below the 10 s connect timeout: this is the limit, not a timeout.
      const closedAfter = await closedWithin(over, 3000);
      assert.ok(closedAfter < 3000);
      assert.equal(over.received().length, 0, 'nothing is sent on a refused socket');
      await client.publishAsync('/devices/dev-limits/events', 'still here', { qos: 1 });
      // A place frees up when a connection closes; a new device connection is then accepted.
      const freed = raws.shift()!;
      freed.socket.destroy();
      await freed.closed;
    } finally {
      await endQuietly(client);
    }
    const again = await connectDevice(server, device.clientId, await device.jwt());
    await endQuietly(again);
  });

  it('counts TLS connections whose handshake has not finished', async () => {
    for (const r of raws.splice(0)) {
      r.socket.destroy();
      await r.closed;
    }
    // Three TCP connections to the TLS listener that never start a handshake fill the places.
    const tlsUrl = server.info.mqtt[0]!;
    for (let i = 0; i < 3; i++) raws.push(await openRaw(tlsUrl));
    const over = await openRaw(tlsUrl);
    raws.push(over);
    // Closed at once, not after the 10 s handshake timeout.
    assert.ok((await closedWithin(over, 3000)) < 3000);
  });
});
