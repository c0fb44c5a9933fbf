import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('gRPC listener start-up', () => {
  it('an address that cannot be bound stops the start, naming the error, with nothing left running', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'bridgehead-grpc-bind-'));
    try {
      await assert.rejects(startServer({ dataDir, args: ['--grpc-listen', `127.0.0.1:${port}`] }), new RegExp(`exited with 2 before listening[\\s\\S]*grpcListen 127\\.0\\.0\\.1:${port} is in use; free the port or choose another with --grpc-listen`));
    } finally {
      taken.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
