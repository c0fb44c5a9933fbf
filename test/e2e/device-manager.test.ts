import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { iotClient } from '../support/iot-client.js';
import { api, startServer, type StartedServer } from '../support/server.js';
import { deviceManagerScenario } from './device-manager-scenario.js';

/**
 * The Device Manager API driven by the official @google-cloud/iot client (REST fallback) against
 * the real server process (spec §3), and the wire details of the REST front end.
 */
describe('Device Manager API through @google-cloud/iot over REST', () => {
  let server: StartedServer;
  let client: ReturnType<typeof iotClient>;
  const P = 'proj-e2e';
  const L = 'us-central1';

  before(async () => {
    server = await startServer();
    client = iotClient(server);
  });
  after(async () => {
    await client.close();
    await server.cleanup();
  });

  deviceManagerScenario(() => ({ client, clientWithToken: (token) => iotClient(server, token) }), { requiresCredentials: true });

  it('speaks the wire details of the REST front end', async () => {
    const r = await api(server, 'POST', `/v1/projects/${P}/locations/${L}/registries`, { id: 'reg-wire' });
    assert.equal(r.status, 200);
    // snake_case input, URL-safe base64 without padding, numbers for enums.
    const c = await api(server, 'POST', `/v1/projects/${P}/locations/${L}/registries/reg-wire/devices`, {
      id: 'dev-w',
      gateway_config: { gateway_type: 1, gateway_auth_method: 2 },
      config: { binary_data: Buffer.from([0xfb, 0xff]).toString('base64url') },
    });
    assert.equal(c.status, 200, JSON.stringify(c.json));
    assert.equal((c.json.config as { binaryData: string }).binaryData, '+/8=');
    assert.equal(typeof c.json.numId, 'string');
    const ints = await api(server, 'GET', `/v1/projects/${P}/locations/${L}/registries/reg-wire/devices/dev-w?%24alt=json%3Benum-encoding%3Dint`);
    assert.deepEqual(ints.json.gatewayConfig, { gatewayType: 1, gatewayAuthMethod: 2 });
    // POST + X-HTTP-Method-Override: PATCH (Java clients).
    const o = await api(server, 'POST', `/v1/projects/${P}/locations/${L}/registries/reg-wire/devices/dev-w?updateMask=blocked`, { blocked: true }, { 'x-http-method-override': 'PATCH' });
    assert.equal(o.json.blocked, true);
    // Bad base64 names the field; the error has Google's shape.
    const b = await api(server, 'POST', `/v1/projects/${P}/locations/${L}/registries/reg-wire/devices/dev-w:modifyCloudToDeviceConfig`, { binaryData: '12%' });
    assert.equal(b.status, 400);
    const err = b.json.error as { code: number; status: string; message: string };
    assert.equal(err.code, 400);
    assert.equal(err.status, 'INVALID_ARGUMENT');
    assert.match(err.message, /binary_data/);
    // Oversized bodies are refused.
    // The server may answer (and close) before the client has sent the whole body; undici then reports
    // the reset instead of the answer. Either way nothing may be created.
    const big = await api(server, 'POST', `/v1/projects/${P}/locations/${L}/registries`, { id: 'reg-big', pad: 'x'.repeat(3 * 1024 * 1024) }).catch((e: unknown) => {
      assert.match(String((e as Error).cause ?? e), /ECONNRESET|EPIPE|other side closed|SocketError/);
      return { status: 400 };
    });
    assert.equal(big.status, 400);
    const gone = await api(server, 'GET', `/v1/projects/${P}/locations/${L}/registries/reg-big`);
    assert.equal(gone.status, 404);
    // Groups and unknown paths.
    assert.equal((await api(server, 'GET', `/v1/projects/${P}/locations/${L}/registries/reg-wire/groups/g/devices`)).status, 501);
    assert.equal((await api(server, 'GET', `/v1/projects/${P}/nothing`)).status, 404);
    // Health needs no token.
    assert.equal((await fetch(`${server.api}/healthz`)).status, 200);
    assert.equal((await fetch(`${server.api}/v1/projects/${P}/locations/${L}/registries`)).status, 401);
    // A path the router decodes to /v1/… is protected too.
    assert.equal((await fetch(`${server.api}/%761/projects/${P}/locations/${L}/registries`)).status, 401);
  });
});
