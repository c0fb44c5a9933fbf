import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Agent as HttpAgent, get as httpGet } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import { run } from '../support/processes.js';
import { api, CLI, startServer, TEST_TOKEN, type StartedServer } from '../support/server.js';

/**
 * The server as an operator runs it (README "Quickstart"): the `listening` line, health check,
 * admin token handling, restart on the same data dir, config errors, and clients other than
 * @google-cloud/iot (gzip bodies, curl).
 */

const LOC = '/v1/projects/proj-life/locations/us-central1';

/** Temp dirs this file creates itself (startServer only removes the ones it made). */
const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'bridgehead-lifecycle-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function fetchJson(url: string, init: RequestInit = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe('server lifecycle', () => {
  it('prints the listening line with the API URL and data paths; /healthz needs no token', async () => {
    const server = await startServer();
    try {
      assert.match(server.info.api, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(new URL(server.info.api).port, '0', 'port 0 is resolved to the bound port');
      assert.equal(server.info.dataDir, server.dataDir);
      assert.equal(server.info.database, join(server.dataDir, 'registry.db'));
      assert.ok(existsSync(server.info.database));
      // A configured token is not written anywhere.
      assert.equal(server.info.adminTokenFile, undefined);
      assert.equal(existsSync(join(server.dataDir, 'admin-token')), false);

      const health = await fetchJson(`${server.api}/healthz`);
      assert.deepEqual(health, {
        status: 200,
        json: { status: 'ok', checks: { store: { ok: true, detail: 'embedded SQLite' }, log: { ok: true, detail: 'embedded event log' } } },
      });
      const ready = await fetchJson(`${server.api}/readyz`);
      assert.equal(ready.status, 200);
    } finally {
      await server.cleanup();
    }
  });

  it('generates a 0600 token file without --admin-token, and keeps token and data across a SIGTERM restart', async () => {
    const dataDir = tempDir();
    const first = await startServer({ dataDir, token: null });
    let second: StartedServer | undefined;
    try {
      const tokenFile = join(dataDir, 'admin-token');
      assert.equal(first.info.adminTokenFile, tokenFile);
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      const token = readFileSync(tokenFile, 'utf8').trim();
      assert.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
      const withToken = { ...first, token };

      const unauth = await fetchJson(`${first.api}${LOC}/registries`, { headers: { authorization: 'Bearer wrong-token-0123456789' } });
      assert.equal(unauth.status, 401);
      assert.deepEqual(unauth.json, {
        error: { code: 401, message: 'Request is missing a valid admin bearer token (Authorization: Bearer <token>).', status: 'UNAUTHENTICATED' },
      });
      assert.equal((await fetchJson(`${first.api}${LOC}/registries`)).status, 401, 'no Authorization header at all');

      const reg = await api(withToken, 'POST', `${LOC}/registries`, { id: 'life-reg' });
      assert.equal(reg.status, 200, JSON.stringify(reg.json));
      const dev = await api(withToken, 'POST', `${LOC}/registries/life-reg/devices`, { id: 'life-dev', metadata: { site: 'north' } });
      assert.equal(dev.status, 200, JSON.stringify(dev.json));
      const numId = dev.json.numId;
      assert.equal(typeof numId, 'string');

      assert.equal(await first.stop(), 0, 'SIGTERM drains and exits 0');

      second = await startServer({ dataDir, token: null });
      assert.equal(second.info.adminTokenFile, tokenFile);
      assert.equal(readFileSync(tokenFile, 'utf8').trim(), token, 'the token file is kept, not regenerated');
      const again = await api({ ...second, token }, 'GET', `${LOC}/registries/life-reg/devices/life-dev`);
      assert.equal(again.status, 200, JSON.stringify(again.json));
      assert.equal(again.json.numId, numId);
      assert.deepEqual(again.json.metadata, { site: 'north' });
      assert.equal(again.json.name, `projects/proj-life/locations/us-central1/registries/life-reg/devices/${String(numId)}`);
      // The numId also addresses the device after the restart.
      assert.equal((await api({ ...second, token }, 'GET', `${LOC}/registries/life-reg/devices/${String(numId)}`)).json.id, 'life-dev');
      assert.equal(await second.stop(), 0);
    } finally {
      await first.kill();
      await second?.kill();
    }
  });

  it('takes the admin token from BRIDGEHEAD_ADMIN_TOKEN and writes no token file', async () => {
    const envToken = 'env-admin-token-0123456789abcdef';
    const server = await startServer({ token: null, env: { BRIDGEHEAD_ADMIN_TOKEN: envToken } });
    try {
      assert.equal(server.info.adminTokenFile, undefined);
      assert.equal(existsSync(join(server.dataDir, 'admin-token')), false);
      assert.equal((await api({ ...server, token: envToken }, 'GET', `${LOC}/registries`)).status, 200);
      assert.equal((await api({ ...server, token: TEST_TOKEN }, 'GET', `${LOC}/registries`)).status, 401);
    } finally {
      await server.cleanup();
    }
  });

  it('SIGTERM stops the server promptly although HTTP bridge clients keep HTTP/2 sessions and keep-alive connections open', async () => {
    const server = await startServer({ args: ['--http-bridge-listen', '127.0.0.1:0', '--http-bridge-plain-listen', '127.0.0.1:0'] });
    const h2 = connectHttp2(server.info.httpBridge as string, { rejectUnauthorized: false });
    const agent = new HttpAgent({ keepAlive: true });
    try {
      // Unauthenticated requests are enough to open the session and the connection (401 each).
      const h2Status = await new Promise<number>((resolve, reject) => {
        const req = h2.request({ ':path': '/v1/projects/p/locations/l/registries/r/devices/d/config' });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
      assert.equal(h2Status, 401);
      const plainStatus = await new Promise<number>((resolve, reject) => {
        httpGet(`${server.info.httpBridgePlain as string}/v1/projects/p/locations/l/registries/r/devices/d/config`, { agent }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      assert.equal(plainStatus, 401);
      const sessionClosed = new Promise((resolve) => h2.once('close', resolve));
      const started = Date.now();
      const code = await server.stop();
      const took = Date.now() - started;
      assert.equal(code, 0);
      assert.ok(took < 5000, `stopped after ${took} ms (the keep-alive timeout is 60 s)`);
      await sessionClosed;
    } finally {
      h2.destroy();
      agent.destroy();
      await server.cleanup();
    }
  });

  it('refuses an invalid configuration: exit code 2 and every problem named on stderr', async () => {
    const dataDir = tempDir();
    const { code, stdout, stderr } = await run(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--api-listen', 'nonsense', '--log-level', 'loud']);
    assert.equal(code, 2);
    assert.equal(stdout, '', 'no listening line');
    const { msg } = JSON.parse(stderr) as { msg: string };
    assert.match(msg, /apiListen: expected HOST:PORT \(port 0-65535\), got "nonsense"/);
    assert.match(msg, /logLevel: expected one of .*, got "loud"/);
    assert.equal(existsSync(join(dataDir, 'registry.db')), false, 'nothing was opened');
  });

  describe('other HTTP clients', () => {
    let server: StartedServer;
    before(async () => {
      server = await startServer();
    });
    after(async () => {
      await server.cleanup();
    });

    it('accepts a gzip-compressed JSON body (Content-Encoding: gzip, as Java clients send)', async () => {
      const body = gzipSync(JSON.stringify({ id: 'gzip-reg', log_level: 'DEBUG' }));
      const res = await fetchJson(`${server.api}${LOC}/registries`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body,
      });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      assert.deepEqual(res.json, { id: 'gzip-reg', name: 'projects/proj-life/locations/us-central1/registries/gzip-reg', logLevel: 'DEBUG' });
      assert.equal((await api(server, 'GET', `${LOC}/registries/gzip-reg`)).json.logLevel, 'DEBUG');
    });

    it('curl creates a registry with snake_case fields and gets it back', async () => {
      const auth = `authorization: Bearer ${server.token}`;
      const body = JSON.stringify({
        id: 'curl-reg',
        event_notification_configs: [{ pubsub_topic_name: 'projects/proj-life/topics/telemetry', subfolder_matches: 'alerts' }],
        state_notification_config: { pubsub_topic_name: 'projects/proj-life/topics/state' },
        http_config: { http_enabled_state: 'HTTP_DISABLED' },
      });
      const expected = {
        id: 'curl-reg',
        name: 'projects/proj-life/locations/us-central1/registries/curl-reg',
        eventNotificationConfigs: [{ pubsubTopicName: 'projects/proj-life/topics/telemetry', subfolderMatches: 'alerts' }],
        stateNotificationConfig: { pubsubTopicName: 'projects/proj-life/topics/state' },
        httpConfig: { httpEnabledState: 'HTTP_DISABLED' },
      };
      // -w appends the status on its own line; --fail is not used so that error bodies are visible.
      const created = await run('/usr/bin/curl', ['-sS', '-w', '\n%{http_code}', '-X', 'POST', '-H', auth, '-H', 'content-type: application/json', '--data', body, `${server.api}${LOC}/registries`]);
      assert.equal(created.code, 0, created.stderr);
      const [createdBody, createdStatus] = created.stdout.split('\n');
      assert.equal(createdStatus, '200', createdBody);
      assert.deepEqual(JSON.parse(createdBody ?? ''), expected);

      const got = await run('/usr/bin/curl', ['-sS', '-w', '\n%{http_code}', '-H', auth, `${server.api}${LOC}/registries/curl-reg`]);
      assert.equal(got.code, 0, got.stderr);
      const [gotBody, gotStatus] = got.stdout.split('\n');
      assert.equal(gotStatus, '200', gotBody);
      assert.deepEqual(JSON.parse(gotBody ?? ''), expected);
    });
  });
});
