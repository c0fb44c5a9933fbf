import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { iotGrpcClient, type DeviceManagerClient } from '../support/iot-client.js';
import { startServer, type StartedServer } from '../support/server.js';
import { deviceManagerScenario } from './device-manager-scenario.js';

/**
 * The Device Manager scenario through @google-cloud/iot in its default gRPC mode, on the plaintext
 * listener with `--grpc-anonymous`: a client built with only an endpoint, a port and insecure
 * channel credentials, sending no credentials at all.
 */
describe('Device Manager API through @google-cloud/iot over gRPC (h2c, anonymous)', () => {
  let server: StartedServer;
  let client: DeviceManagerClient;

  before(async () => {
    server = await startServer({ args: ['--grpc-listen', '127.0.0.1:0', '--grpc-anonymous'] });
    client = iotGrpcClient(server);
  });
  after(async () => {
    await client.close();
    await server.cleanup();
  });

  deviceManagerScenario(() => ({ client }), { requiresCredentials: false });

  it('names the listener in the listening line; anonymous access on loopback draws no warning', () => {
    assert.match(String(server.info.grpc), /^grpc:\/\/127\.0\.0\.1:\d+$/);
    assert.doesNotMatch(server.stderr(), /grpc-anonymous/);
  });
});
