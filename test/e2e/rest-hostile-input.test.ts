import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * The REST API against hostile input, over real HTTP to the started server: every answer is
 * Google's error JSON with the right code, never a 500, never a dead server
 * (docs/compat.md C-JSON-DEPTH, C-JSON-STRICT, C-HTTP-ERRORS, C-ERROR-ECHO, C-METRICS-ACCESS).
 */

const LOC = '/v1/projects/proj-hostile/locations/us-central1';
const REG = `${LOC}/registries/reg-h`;

interface GoogleError {
  error: { code: number; message: string; status: string; details?: Array<{ fieldViolations: Array<{ field: string }> }> };
}

/** Asserts Google's error JSON, exactly its keys, and returns the message. */
function googleError(res: { status: number; json: unknown }, status: number, kind: string, message?: RegExp, field?: string): string {
  assert.equal(res.status, status, JSON.stringify(res.json).slice(0, 500));
  const { error } = res.json as GoogleError;
  assert.deepEqual(Object.keys(res.json as object), ['error']);
  assert.equal(error.code, status);
  assert.equal(error.status, kind);
  if (message) assert.match(error.message, message);
  if (field !== undefined) assert.equal(error.details?.[0]?.fieldViolations[0]?.field, field);
  return error.message;
}

/** A request with a raw body (bytes or text) and exactly the headers given besides the token. */
async function send(server: StartedServer, method: string, path: string, body: string | Uint8Array | undefined, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${server.api}${path}`, { method, headers: { authorization: `Bearer ${server.token}`, ...headers }, body });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : {} };
}

/** Writes raw bytes on a new connection and returns everything the server sent before closing. */
function rawHttp(server: StartedServer, request: string): Promise<string> {
  const { hostname, port } = new URL(server.api);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.write(request);
  });
}

async function alive(server: StartedServer): Promise<void> {
  assert.equal((await fetch(`${server.api}/healthz`)).status, 200, 'the server still answers');
}

describe('REST API under hostile input', () => {
  let server: StartedServer;
  before(async () => {
    server = await startServer();
    assert.equal((await api(server, 'POST', `${LOC}/registries`, { id: 'reg-h' })).status, 200);
    assert.equal((await api(server, 'POST', `${REG}/devices`, { id: 'gw-1', gatewayConfig: { gatewayType: 'GATEWAY' } })).status, 200);
    assert.equal((await api(server, 'POST', `${REG}/devices`, { id: 'dev-1' })).status, 200);
  });
  after(async () => {
    await server.cleanup();
  });

  it('deeply nested bodies (200,000 levels, under the 2 MiB limit) are INVALID_ARGUMENT, not 500', async () => {
    const arrays = '['.repeat(200_000) + ']'.repeat(200_000);
    googleError(await send(server, 'POST', `${LOC}/registries`, arrays), 400, 'INVALID_ARGUMENT', /Nesting deeper than 100 levels/);
    const inMetadata = `{"id":"deep-dev","metadata":${'{"a":'.repeat(200_000)}"x"${'}'.repeat(200_000)}}`;
    googleError(await send(server, 'POST', `${REG}/devices`, inMetadata), 400, 'INVALID_ARGUMENT', /Nesting deeper than 100 levels/);
    await alive(server);
    assert.equal((await api(server, 'GET', `${REG}/devices/deep-dev`)).status, 404);
  });

  it('output-only fields of the wrong JSON type are refused naming the field', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ state: 5 }, 'device.state'],
      [{ lastHeartbeatTime: 7 }, 'device.last_heartbeat_time'],
      [{ last_event_time: 'yesterday' }, 'device.last_event_time'],
      [{ lastStateTime: [] }, 'device.last_state_time'],
      [{ lastConfigAckTime: {} }, 'device.last_config_ack_time'],
      [{ lastConfigSendTime: true }, 'device.last_config_send_time'],
      [{ lastErrorTime: 1 }, 'device.last_error_time'],
      [{ lastErrorStatus: 'broken' }, 'device.last_error_status'],
      [{ numId: [1] }, 'device.num_id'],
      [{ name: 12 }, 'device.name'],
      [{ config: { cloudUpdateTime: 12 } }, 'device.config.cloud_update_time'],
      [{ gatewayConfig: { lastAccessedGatewayTime: ['x'] } }, 'device.gateway_config.last_accessed_gateway_time'],
    ];
    for (const [fields, field] of cases) {
      const res = await api(server, 'POST', `${REG}/devices`, { id: 'typed-dev', ...fields });
      googleError(res, 400, 'INVALID_ARGUMENT', new RegExp(`^Invalid value at '${field.replace(/[.[\]]/g, '\\$&')}'`), field);
    }
    const cert = { publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: 'x', x509Details: { startTime: 5 } } };
    const field = 'device_registry.credentials[0].public_key_certificate.x509_details.start_time';
    googleError(await api(server, 'PATCH', `${REG}?updateMask=credentials`, { credentials: [cert] }), 400, 'INVALID_ARGUMENT', /Invalid value/, field);
    assert.equal((await api(server, 'GET', `${REG}/devices/typed-dev`)).status, 404);
  });

  it('well-typed output-only fields are accepted and ignored, as before', async () => {
    const res = await api(server, 'POST', `${REG}/devices`, {
      id: 'echoed-dev',
      name: '',
      numId: '0',
      lastHeartbeatTime: '2020-01-01T00:00:00Z',
      state: { updateTime: '2020-01-01T00:00:00Z', binaryData: 'AA==' },
      config: { version: '0', cloudUpdateTime: '2020-01-01T00:00:00Z', binaryData: 'AQ==' },
      lastErrorStatus: { code: 9, message: 'old' },
      gatewayConfig: { lastAccessedGatewayId: 'gw-1', lastAccessedGatewayTime: '2020-01-01T00:00:00Z' },
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const d = res.json as Record<string, unknown>;
    assert.equal(d.lastHeartbeatTime, undefined);
    assert.equal(d.state, undefined);
    assert.equal(d.lastErrorStatus, undefined);
    assert.equal((d.config as { version: string; binaryData: string }).version, '1');
    assert.equal((d.config as { binaryData: string }).binaryData, 'AQ==');
    assert.deepEqual(d.gatewayConfig, { gatewayType: 'NON_GATEWAY' });
  });

  it('a name given twice is refused, in one spelling or in both', async () => {
    googleError(await send(server, 'POST', `${LOC}/registries`, '{"id":"dup-a","id":"dup-b"}'), 400, 'INVALID_ARGUMENT', /Duplicate name "id"/);
    googleError(
      await send(server, 'POST', `${LOC}/registries`, '{"id":"dup-c","log_level":"INFO","logLevel":"DEBUG"}'),
      400,
      'INVALID_ARGUMENT',
      /given twice \(as "log_level" and "logLevel"\)/,
      'device_registry.log_level',
    );
    for (const id of ['dup-a', 'dup-b', 'dup-c']) assert.equal((await api(server, 'GET', `${LOC}/registries/${id}`)).status, 404, id);
  });

  it('unknown names are refused in every request body, top-level and nested, and nothing changes', async () => {
    const cases: Array<[string, string, Record<string, unknown>, string]> = [
      ['POST', `${LOC}/registries`, { id: 'unk-reg', foo: 1 }, "at 'device_registry'"],
      ['PATCH', `${REG}?updateMask=logLevel`, { logLevel: 'DEBUG', mqtt_config: { mqttEnabledState: 'MQTT_ENABLED', foo: 1 } }, "at 'device_registry.mqtt_config'"],
      ['POST', `${REG}/devices`, { id: 'unk-dev', config: { binaryData: '', foo: 1 } }, "at 'device.config'"],
      ['PATCH', `${REG}/devices/dev-1?updateMask=blocked`, { blocked: true, credentials: [{ publicKey: { format: 'ES256_PEM', key: 'k', foo: 1 } }] }, "at 'device.credentials[0].public_key'"],
      ['POST', `${REG}/devices/dev-1:modifyCloudToDeviceConfig`, { binaryData: 'AA==', foo: 1 }, ''],
      ['POST', `${REG}/devices/dev-1:sendCommandToDevice`, { binaryData: 'AA==', foo: 1 }, ''],
      ['POST', `${REG}:bindDeviceToGateway`, { gatewayId: 'gw-1', deviceId: 'dev-1', foo: 1 }, ''],
      ['POST', `${REG}:unbindDeviceFromGateway`, { gatewayId: 'gw-1', deviceId: 'dev-1', foo: 1 }, ''],
      ['POST', `${REG}:getIamPolicy`, { options: { requestedPolicyVersion: 1, foo: 1 } }, "at 'options'"],
      ['POST', `${REG}:setIamPolicy`, { policy: { bindings: [{ role: 'roles/viewer', members: ['user:a@example.com'], foo: 1 }] } }, "at 'policy.bindings[0]'"],
      ['POST', `${REG}:testIamPermissions`, { permissions: ['cloudiot.devices.get'], foo: 1 }, ''],
    ];
    for (const [method, path, body, at] of cases) {
      const message = googleError(await api(server, method, path, body), 400, 'INVALID_ARGUMENT');
      assert.equal(message, `Invalid JSON payload received. Unknown name "foo"${at ? ` ${at}` : ''}: Cannot find field.`, `${method} ${path}`);
    }
    const reg = (await api(server, 'GET', REG)).json;
    assert.equal(reg.logLevel, undefined, 'the registry was not patched');
    assert.equal((await api(server, 'GET', `${REG}/devices/dev-1`)).json.blocked, undefined, 'the device was not patched');
    assert.equal(((await api(server, 'GET', `${REG}/devices/dev-1`)).json.config as { version: string }).version, '1', 'no new config');
    assert.equal((await api(server, 'GET', `${LOC}/registries/unk-reg`)).status, 404);
  });

  it('__proto__ and constructor keys: unknown as fields, invalid or plain as metadata keys, never a prototype', async () => {
    googleError(await send(server, 'POST', `${LOC}/registries`, '{"id":"proto-reg","__proto__":{"logLevel":"DEBUG"}}'), 400, 'INVALID_ARGUMENT', /Unknown name "__proto__"/);
    googleError(await send(server, 'POST', `${REG}/devices`, '{"id":"proto-dev","metadata":{"__proto__":"x"}}'), 400, 'INVALID_ARGUMENT', /Invalid metadata key "__proto__"/);
    const ok = await send(server, 'POST', `${REG}/devices`, '{"id":"ctor-dev","metadata":{"constructor":"x","toString":"y"}}', { 'content-type': 'application/json' });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.deepEqual((await api(server, 'GET', `${REG}/devices/ctor-dev`)).json.metadata, { constructor: 'x', toString: 'y' });
  });

  it('over-long URLs and headers answer in Google’s error JSON (not Node’s 431)', async () => {
    const longUrl = await send(server, 'GET', `${REG}/devices/${'d'.repeat(20_000)}`, undefined);
    googleError(longUrl, 400, 'INVALID_ARGUMENT', /URL or headers are larger than the server accepts/);
    const longHeader = await send(server, 'GET', REG, undefined, { 'x-padding': 'p'.repeat(20_000) });
    googleError(longHeader, 400, 'INVALID_ARGUMENT', /URL or headers are larger/);
    const longQuery = await send(server, 'GET', `${REG}/devices?${'deviceIds=x&'.repeat(2000)}`, undefined);
    googleError(longQuery, 400, 'INVALID_ARGUMENT', /URL or headers are larger/);
  });

  it('malformed URLs and malformed HTTP answer in Google’s error JSON', async () => {
    for (const path of [`${REG}/devices/%zz`, '/v1/%', `${REG}/devices/%C0%AF`, '/v1/projects/p/topics/%/messages']) {
      googleError(await send(server, 'GET', path, undefined), 400, 'INVALID_ARGUMENT', /not valid URL encoding/);
    }
    // A path parameter of the event log routes over the router's 2,000-character limit falls
    // through to the Device Manager's catch-all, quoted cut.
    const longParam = await send(server, 'GET', `/v1/projects/${'p'.repeat(3000)}/topics/t/messages`, undefined);
    assert.ok(googleError(longParam, 404, 'NOT_FOUND', /^No Device Manager method at \/v1\/projects\/p+…\.$/).length < 300);
    const raw = await rawHttp(server, 'FROB /v1 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.deepEqual(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), { error: { code: 400, message: 'The request is not valid HTTP/1.1.', status: 'INVALID_ARGUMENT' } });
    await alive(server);
  });

  it('a 100,000-character ID is quoted cut to 64 characters in the error', async () => {
    const huge = `a${'b'.repeat(100_000)}!`;
    for (const [path, body] of [
      [`${LOC}/registries`, { id: huge }],
      [`${REG}/devices`, { id: huge }],
      [`${REG}:bindDeviceToGateway`, { gatewayId: 'gw-1', deviceId: huge }],
      [`${REG}/devices/dev-1?updateMask=metadata`, { metadata: { [huge]: 'v' } }],
    ] as const) {
      const res = await api(server, path.includes('?') ? 'PATCH' : 'POST', path, body);
      assert.ok(res.status === 400 || res.status === 404, `${path}: ${res.status}`);
      const message = (res.json as unknown as GoogleError).error.message;
      assert.ok(message.length < 300, `${path}: a message of ${message.length} characters`);
      assert.ok(message.includes(`${'b'.repeat(10)}…`), message);
      assert.ok(JSON.stringify(res.json).length < 1200, `${path}: ${JSON.stringify(res.json).length} bytes of error`);
    }
    // Names from the URL (bounded by the 16 KiB header limit): a project ID over 128 characters is
    // no valid name, and the refusal quotes it cut short.
    const longName = await api(server, 'GET', `/v1/projects/${'p'.repeat(8000)}/locations/l/registries/r`);
    assert.ok(googleError(longName, 400, 'INVALID_ARGUMENT', /got "projects\/p+…"\.$/, 'name').length < 300);
    const longRegistry = await api(server, 'GET', `/v1/projects/p/locations/l/registries/${'r'.repeat(8000)}`);
    assert.ok(googleError(longRegistry, 404, 'NOT_FOUND', /^Registry "projects\/p\/locations\/l\/registries\/r+…" not found\.$/).length < 300);
  });

  it('gzip bodies: a bomb stops at the limit, corrupt and truncated ones are 400, the server lives, and no content type is needed', async () => {
    const gz = { 'content-encoding': 'gzip' };
    // 50 MiB of spaces compress to about 50 KiB.
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20));
    googleError(await send(server, 'POST', `${LOC}/registries`, bomb, { ...gz, 'content-type': 'application/json' }), 400, 'INVALID_ARGUMENT', /larger than the server accepts/);
    googleError(await send(server, 'POST', `${LOC}/registries`, bomb, gz), 400, 'INVALID_ARGUMENT', /larger than the server accepts/);
    const whole = gzipSync(JSON.stringify({ id: 'gz-reg' }));
    googleError(await send(server, 'POST', `${LOC}/registries`, whole.subarray(0, 15), gz), 400, 'INVALID_ARGUMENT', /gzip request body is corrupt or truncated/);
    googleError(await send(server, 'POST', `${LOC}/registries`, 'not gzip at all', gz), 400, 'INVALID_ARGUMENT', /gzip request body is corrupt or truncated/);
    await alive(server);
    // Before: without a content type the gzip body was taken for empty ("registry ID is required").
    const created = await send(server, 'POST', `${LOC}/registries`, whole, gz);
    assert.equal(created.status, 200, JSON.stringify(created.json));
    assert.equal((await api(server, 'GET', `${LOC}/registries/gz-reg`)).status, 200);
  });

  it('content types: a malformed one is INVALID_ARGUMENT; any well-formed one is read as JSON', async () => {
    for (const type of ['', ';;;', 'json']) {
      googleError(await send(server, 'POST', `${LOC}/registries`, '{"id":"ct-reg"}', { 'content-type': type }), 400, 'INVALID_ARGUMENT', /Content-Type header is not a valid media type/);
    }
    for (const [i, type] of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'].entries()) {
      assert.equal((await send(server, 'POST', `${LOC}/registries`, `{"id":"ct-reg-${i}"}`, { 'content-type': type })).status, 200, type);
    }
  });

  it('invalid UTF-8 and unpaired surrogate escapes are refused, not stored as U+FFFD', async () => {
    const bytes = Buffer.concat([Buffer.from('{"id":"utf-dev","metadata":{"k":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]);
    googleError(await send(server, 'POST', `${REG}/devices`, bytes), 400, 'INVALID_ARGUMENT', /not valid UTF-8/);
    googleError(await send(server, 'POST', `${REG}/devices`, '{"id":"utf-dev","metadata":{"k":"\\ud800"}}'), 400, 'INVALID_ARGUMENT', /unpaired UTF-16 surrogate/);
    assert.equal((await api(server, 'GET', `${REG}/devices/utf-dev`)).status, 404);
  });

  it('query strings: repeated parameters take the first; odd and huge values are INVALID_ARGUMENT', async () => {
    const page = await api(server, 'GET', `${LOC}/registries?pageSize=1&pageSize=50&page_size=7`);
    assert.equal((page.json.deviceRegistries as unknown[]).length, 1);
    googleError(await api(server, 'GET', `${LOC}/registries?__proto__=1&constructor=2&pageSize=__proto__`), 400, 'INVALID_ARGUMENT', /page_size/);
    googleError(await api(server, 'GET', `${REG}/devices?deviceNumIds=${'9'.repeat(30)}`), 400, 'INVALID_ARGUMENT', undefined, 'device_num_ids');
    const mask = await api(server, 'GET', `${REG}/devices/dev-1?fieldMask=${'x'.repeat(12_000)}`);
    assert.ok(googleError(mask, 400, 'INVALID_ARGUMENT', /field_mask/).length < 300);
    googleError(await api(server, 'GET', `/v1/projects/p/topics/t/messages?after=1&after=2`), 400, 'INVALID_ARGUMENT', /got a list/);
  });

  it('/metrics: a caller on a loopback address needs no token by default', async () => {
    const res = await fetch(`${server.api}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^# HELP bridgehead_/m);
  });
});

describe('/metrics access settings', () => {
  it('--metrics-access token: the admin token is needed, on loopback too', async () => {
    const server = await startServer({ args: ['--metrics-access', 'token'] });
    try {
      const anonymous = await fetch(`${server.api}/metrics`);
      googleError({ status: anonymous.status, json: await anonymous.json() }, 401, 'UNAUTHENTICATED', /admin bearer token/);
      const withToken = await fetch(`${server.api}/metrics`, { headers: { authorization: `Bearer ${server.token}` } });
      assert.equal(withToken.status, 200);
      assert.match(await withToken.text(), /^# HELP bridgehead_/m);
    } finally {
      await server.cleanup();
    }
  });

  // The timeout bounds the wait for the log line, should it never come.
  it('BRIDGEHEAD_METRICS_ACCESS=public: no token needed, and the effective config says so', { timeout: 20_000 }, async () => {
    const server = await startServer({ env: { BRIDGEHEAD_METRICS_ACCESS: 'public' }, logLevel: 'info' });
    try {
      assert.equal((await fetch(`${server.api}/metrics`)).status, 200);
      // From loopback, public and the default look alike: the logged effective config tells them apart.
      await stderrMatching(server, /"metricsAccess":"public"/);
    } finally {
      await server.cleanup();
    }
  });

  it('an unknown mode stops the server at start with the choices named', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'bridgehead-metrics-'));
    try {
      await assert.rejects(startServer({ dataDir, args: ['--metrics-access', 'open'] }), /metricsAccess: expected one of loopback, token, public, got \\"open\\"/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Resolves once the server's stderr matches `re` (log lines are written asynchronously). */
function stderrMatching(server: StartedServer, re: RegExp): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!re.test(server.stderr())) return;
      server.process.stderr!.off('data', check);
      resolve();
    };
    server.process.stderr!.on('data', check);
    check();
  });
}
