import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../support/processes.js';
import { api, cliEnv, startServer, type StartedServer } from '../support/server.js';

/**
 * "No code change" (README, Point the Google host names at Bridgehead): a backend that builds
 * `new DeviceManagerClient()` without an endpoint reaches Bridgehead because its /etc/hosts maps
 * cloudiot.googleapis.com to Bridgehead's address and its environment trusts Bridgehead's CA.
 * The backend runs under `unshare --mount` with its own hosts file bind-mounted over /etc/hosts,
 * so the machine's resolver is never touched; Bridgehead listens on port 443 of a random loopback
 * address (binding 443 needs root, as CI has), so no other test can collide with it.
 */

const BACKEND = resolve(dirname(fileURLToPath(import.meta.url)), '../support/google-host-backend.js');
const PROJECT = 'proj-hosts';

describe('no code change: Google host names pointed at Bridgehead', () => {
  let server: StartedServer;
  let dir: string;
  let hostsFile: string;
  const address = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

  before(async () => {
    server = await startServer({ args: ['--tls-hostname', 'cloudiot.googleapis.com', '--api-tls-listen', `${address}:443`] });
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-hosts-'));
    hostsFile = join(dir, 'hosts');
    writeFileSync(hostsFile, `127.0.0.1 localhost\n::1 localhost\n${address} cloudiot.googleapis.com\n`);
  });
  after(async () => {
    await server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const backend = (mode: 'grpc' | 'rest'): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    run(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$1" "$2" "$3" "$4"', hostsFile, process.execPath, BACKEND, mode, PROJECT],
      {
        env: cliEnv({
          BACKEND_TOKEN: server.token,
          // What the README tells operators to set: gRPC's roots and Node's extra CAs.
          GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: server.info.caFile,
          NODE_EXTRA_CA_CERTS: server.info.caFile,
        }),
        timeoutMs: 30_000,
      },
    );

  it('listens on port 443 of the mapped address', () => {
    assert.equal(server.info.apiTls, `https://${address}:443`);
  });

  for (const mode of ['grpc', 'rest'] as const) {
    it(`new DeviceManagerClient() in ${mode === 'grpc' ? 'its default gRPC mode' : 'REST mode'} manages devices on Bridgehead`, async () => {
      const result = await backend(mode);
      assert.equal(result.code, 0, result.stderr);
      const seen = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.deepEqual(seen, {
        endpoint: 'cloudiot.googleapis.com',
        port: 443,
        registry: `projects/${PROJECT}/locations/us-central1/registries/reg-${mode}`,
        device: 'backend-dev',
        metadata: { via: mode },
        listed: ['backend-dev'],
      });
      // It was Bridgehead that answered.
      const stored = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/us-central1/registries/reg-${mode}/devices/backend-dev`);
      assert.equal(stored.status, 200);
    });
  }

  it('outside the backend namespace, the name is untouched', async () => {
    const lookup = await run('getent', ['hosts', 'cloudiot.googleapis.com']);
    assert.doesNotMatch(lookup.stdout, new RegExp(address.replace(/\./g, '\\.')));
  });
});
