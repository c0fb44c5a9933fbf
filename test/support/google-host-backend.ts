import iot from '@google-cloud/iot';

/**
 * Child process of the "no code change" test: a backend as it was written for Cloud IoT Core. It
 * builds `new DeviceManagerClient()` with no options at all (gRPC, the default) or with only
 * `fallback: 'rest'` (REST mode), so that it talks to cloudiot.googleapis.com:443, trusts what the
 * environment says (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, NODE_EXTRA_CA_CERTS) and authenticates with
 * Application Default Credentials: the key file named by GOOGLE_APPLICATION_CREDENTIALS. Prints one
 * JSON line with what it saw, and whether its auth client ever fetched an access token from the
 * key's token_uri (Node's library signs its own JWTs instead; looked at after the calls, so the
 * backend's code stays as it was).
 *
 * usage: node google-host-backend.js grpc|rest PROJECT
 *
 * `node --test dist/test/` also runs every file under test/ as a test; without arguments this
 * exits at once, successfully.
 */

const [mode, project] = process.argv.slice(2);
if ((mode === 'grpc' || mode === 'rest') && project !== undefined) {
  const client = mode === 'grpc' ? new iot.v1.DeviceManagerClient() : new iot.v1.DeviceManagerClient({ fallback: 'rest' });
  const registryId = `reg-${mode}`;
  const parent = client.locationPath(project, 'us-central1');
  const [registry] = await client.createDeviceRegistry({ parent, deviceRegistry: { id: registryId } });
  const [device] = await client.createDevice({ parent: String(registry.name), device: { id: 'backend-dev', metadata: { via: mode } } });
  const [got] = await client.getDevice({ name: String(device.name) });
  const [devices] = await client.listDevices({ parent: String(registry.name) });
  const authClient = await client.auth.getClient();
  process.stdout.write(
    `${JSON.stringify({
      endpoint: client.apiEndpoint,
      port: iot.v1.DeviceManagerClient.port,
      registry: registry.name,
      device: got.id,
      metadata: got.metadata,
      listed: devices.map((d) => d.id),
      accessTokenFetched: typeof authClient.credentials.access_token === 'string',
    })}\n`,
  );
  await client.close();
}
