import iot from '@google-cloud/iot';
import { OAuth2Client } from 'google-auth-library';

/**
 * Child process of the "no code change" test: a backend as it was written for Cloud IoT Core,
 * building its client with no endpoint, port or TLS options, so that it talks to
 * cloudiot.googleapis.com:443 and trusts what the environment says (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH,
 * NODE_EXTRA_CA_CERTS). Only the credentials are given: a bearer token from BACKEND_TOKEN, until
 * Bridgehead issues service-account keys for GOOGLE_APPLICATION_CREDENTIALS. Prints one JSON line
 * with what it saw.
 *
 * usage: node google-host-backend.js grpc|rest PROJECT
 *
 * `node --test dist/test/` also runs every file under test/ as a test; without arguments this
 * exits at once, successfully.
 */

const [mode, project] = process.argv.slice(2);
if ((mode === 'grpc' || mode === 'rest') && project !== undefined) {
  const authClient = new OAuth2Client();
  authClient.setCredentials({ access_token: process.env.BACKEND_TOKEN, expiry_date: Date.now() + 3600_000 });
  const client = new iot.v1.DeviceManagerClient(mode === 'grpc' ? { authClient } : { authClient, fallback: 'rest' });
  const registryId = `reg-${mode}`;
  const parent = client.locationPath(project, 'us-central1');
  const [registry] = await client.createDeviceRegistry({ parent, deviceRegistry: { id: registryId } });
  const [device] = await client.createDevice({ parent: String(registry.name), device: { id: 'backend-dev', metadata: { via: mode } } });
  const [got] = await client.getDevice({ name: String(device.name) });
  const [devices] = await client.listDevices({ parent: String(registry.name) });
  process.stdout.write(
    `${JSON.stringify({ endpoint: client.apiEndpoint, port: iot.v1.DeviceManagerClient.port, registry: registry.name, device: got.id, metadata: got.metadata, listed: devices.map((d) => d.id) })}\n`,
  );
  await client.close();
}
