import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run } from '../support/processes.js';
import { api, cliEnv, runCli, startServer, type StartedServer } from '../support/server.js';

/**
 * "No code change" (README, Point the Google host names at Bridgehead): a backend that builds
 * `new DeviceManagerClient()` with no options reaches Bridgehead because its /etc/hosts maps
 * cloudiot.googleapis.com to Bridgehead's address and its environment trusts Bridgehead's CA, and
 * is let in because GOOGLE_APPLICATION_CREDENTIALS names a key file Bridgehead issued. The backend
 * runs under `unshare --mount` with its own hosts file bind-mounted over /etc/hosts, so the
 * machine's resolver is never touched; Bridgehead listens on port 443 of a random loopback
 * address (binding 443 needs root, as CI has), so no other test can collide with it. The key's
 * token_uri names Bridgehead under the Google host name too (--token-uri), as an operator sets it
 * for backends that exchange the key for an access token (Python's and Go's libraries).
 */

const BACKEND = resolve(dirname(fileURLToPath(import.meta.url)), '../support/google-host-backend.js');
const PY_EXCHANGE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/e2e/sa_token_exchange.py');
const PROJECT = 'proj-hosts';
const TOKEN_URI = 'https://cloudiot.googleapis.com/token';

describe('no code change: Google host names pointed at Bridgehead', () => {
  let server: StartedServer;
  let dir: string;
  let hostsFile: string;
  let keyFile: string;
  const address = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

  before(async () => {
    server = await startServer({ args: ['--tls-hostname', 'cloudiot.googleapis.com', '--api-tls-listen', `${address}:443`, '--token-uri', TOKEN_URI] });
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-hosts-'));
    hostsFile = join(dir, 'hosts');
    writeFileSync(hostsFile, `127.0.0.1 localhost\n::1 localhost\n${address} cloudiot.googleapis.com\n`);
    // The operator issues the backend's key with the CLI, over the admin listener.
    keyFile = join(dir, 'backend.json');
    for (const args of [
      ['service-accounts', 'create', 'backend-01', '--role', 'roles/cloudiot.admin'],
      ['service-accounts', 'keys', 'create', 'backend-01', '--output', keyFile],
    ]) {
      const r = await runCli([...args, '--project', PROJECT, '--token', server.token], { env: { BRIDGEHEAD_API: server.api } });
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `command` in a mount namespace of its own, where /etc/hosts is the test's hosts file. */
  const withHosts = (command: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile, ...command], {
      env: cliEnv(env),
      timeoutMs: 30_000,
    });

  const backend = (mode: 'grpc' | 'rest'): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    withHosts([process.execPath, BACKEND, mode, PROJECT], {
      // What the README tells operators to set: the key file, gRPC's roots and Node's extra CAs.
      GOOGLE_APPLICATION_CREDENTIALS: keyFile,
      GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: server.info.caFile,
      NODE_EXTRA_CA_CERTS: server.info.caFile,
    });

  it('listens on port 443 of the mapped address; the key file is Google\'s, its token_uri at the Google host name', () => {
    assert.equal(server.info.apiTls, `https://${address}:443`);
    const key = JSON.parse(readFileSync(keyFile, 'utf8')) as Record<string, string>;
    assert.equal(key.type, 'service_account');
    assert.equal(key.client_email, `backend-01@${PROJECT}.iam.gserviceaccount.com`);
    assert.equal(key.token_uri, TOKEN_URI);
  });

  for (const mode of ['grpc', 'rest'] as const) {
    const construction = mode === 'grpc' ? 'new DeviceManagerClient() in its default gRPC mode' : "new DeviceManagerClient({ fallback: 'rest' })";
    it(`${construction}, authenticated by the key file in GOOGLE_APPLICATION_CREDENTIALS, manages devices on Bridgehead`, async () => {
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
        // Node's library signed its own JWT (aud https://cloudiot.googleapis.com/) for every call.
        accessTokenFetched: false,
      });
      // It was Bridgehead that answered.
      const stored = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/us-central1/registries/reg-${mode}/devices/backend-dev`);
      assert.equal(stored.status, 200);
    });
  }

  it('a backend that exchanges the key at token_uri (Python\'s and Go\'s way) reaches the token endpoint through the same name and trust', async () => {
    const registries = `/v1/projects/${PROJECT}/locations/us-central1/registries`;
    const result = await withHosts(['python3', PY_EXCHANGE, keyFile, 'https://cloudiot.googleapis.com', registries], {
      // Python's ssl module (urllib) reads OpenSSL's variable.
      SSL_CERT_FILE: server.info.caFile,
    });
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout) as { token_status: number; token: Record<string, unknown>; api_status: number; api: Record<string, unknown> };
    assert.equal(out.token_status, 200, JSON.stringify(out.token));
    assert.match(String(out.token.access_token), /^bh1\./);
    assert.equal(out.api_status, 200, JSON.stringify(out.api));
    assert.deepEqual(out.api, (await api(server, 'GET', registries)).json, 'the same answer the admin gets on the admin listener');
  });

  it('outside the backend namespace, the name is untouched', async () => {
    const lookup = await run('getent', ['hosts', 'cloudiot.googleapis.com']);
    assert.doesNotMatch(lookup.stdout, new RegExp(address.replace(/\./g, '\\.')));
  });
});
