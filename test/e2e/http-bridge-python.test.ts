import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createDevice, createRegistry, logMessages, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { adminDevice, bind, httpsBridge, identityAttributes, pollUntil, setConfig } from '../support/http-device.js';
import { run } from '../support/processes.js';
import { api, startServer, type StartedServer } from '../support/server.js';

/**
 * Devices written like Google's Cloud IoT Core HTTP sample (cloudiot_http_example.py: requests and
 * PyJWT), RS256 and ES256, plus the two gateway patterns of spec §7.3, against the real server.
 * test/e2e/http_device.py runs a plan of steps and reports each reply as a JSON line; this test
 * prepares the cloud side through the admin API and asserts.
 */

const PYTHON = '/usr/bin/python3';
// Tests run from dist/test/e2e; the script stays in the source tree.
const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/e2e/http_device.py');
const REG = 'reg-py';

interface Reply {
  label: string;
  status: number;
  body: unknown;
  reason: string | null;
}

describe('HTTP device bridge with the Cloud IoT Core Python sample', () => {
  let server: StartedServer;
  let keyDir: string;
  let rs: TestDevice;
  let es: TestDevice;
  let gw: TestDevice;
  let d: TestDevice;
  let u: TestDevice;
  let replies: Map<string, Reply>;

  const keyFile = (dev: TestDevice): string => {
    const file = join(keyDir, `${dev.id}.pem`);
    writeFileSync(file, dev.keys.privateKeyPem);
    return file;
  };
  const step = (label: string, op: 'event' | 'state' | 'config', dev: TestDevice, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    label,
    op,
    device_id: dev.id,
    key_file: keyFile(dev),
    algorithm: dev.keys.alg,
    ...extra,
  });

  before(async () => {
    keyDir = mkdtempSync(join(tmpdir(), 'bridgehead-py-keys-'));
    server = await startServer({ args: ['--http-bridge-listen', '127.0.0.1:0'] });
    await createRegistry(server, REG);
    [rs, es, gw, d, u] = await Promise.all([
      createDevice(server, REG, 'py-rs', { alg: 'RS256' }),
      createDevice(server, REG, 'py-es', { alg: 'ES256' }),
      createDevice(server, REG, 'py-gw', { alg: 'ES256', body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } }),
      createDevice(server, REG, 'py-bound', { alg: 'ES256' }),
      createDevice(server, REG, 'py-unbound', { alg: 'RS256' }),
    ]);
    await bind(server, REG, gw.id, d.id);
    await setConfig(server, REG, rs.id, Buffer.from('rs-config'));
    await setConfig(server, REG, es.id, Buffer.from('es-config'));
    await setConfig(server, REG, d.id, Buffer.from('bound-config'));

    const plan = {
      base_url: `${httpsBridge(server)}/v1`,
      ca: server.info.caFile,
      project_id: PROJECT,
      cloud_region: REGION,
      registry_id: REG,
      steps: [
        step('rs-config', 'config', rs, { version: 0 }),
        step('rs-event', 'event', rs, { message: 'rs-hello' }),
        step('rs-state', 'state', rs, { message: 'rs-state' }),
        step('es-config', 'config', es, { version: 0 }),
        step('es-event', 'event', es, { message: 'es-hello' }),
        step('es-state', 'state', es, { message: 'es-state' }),
        // The gateway acting for its bound device: gateway's path and JWT, delegated_device_id.
        step('gw-config-for-d', 'config', gw, { version: 0, gateway_info: { delegated_device_id: d.id } }),
        step('gw-event-for-d', 'event', gw, { message: 'gw-for-bound', gateway_info: { delegated_device_id: d.id } }),
        step('gw-state-for-d', 'state', gw, { message: 'gw-state-for-bound', gateway_info: { delegated_device_id: d.id } }),
        // The device going through the gateway with its own JWT: gateway_id.
        step('d-config-via-gw', 'config', d, { version: 0, gateway_info: { gateway_id: gw.id } }),
        step('d-event-via-gw', 'event', d, { message: 'bound-via-gw', gateway_info: { gateway_id: gw.id } }),
        // Not bound: refused both ways.
        step('gw-event-for-u', 'event', gw, { message: 'gw-for-unbound', gateway_info: { delegated_device_id: u.id } }),
        step('gw-config-for-u', 'config', gw, { version: 0, gateway_info: { delegated_device_id: u.id } }),
        step('u-event-via-gw', 'event', u, { message: 'unbound-via-gw', gateway_info: { gateway_id: gw.id } }),
      ],
    };
    const r = await run(PYTHON, [SCRIPT], { input: JSON.stringify(plan), timeoutMs: 30_000 });
    assert.equal(r.code, 0, `python: ${r.stderr}\n${r.stdout}`);
    replies = new Map(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Reply)
        .map((x) => [x.label, x]),
    );
    assert.equal(replies.size, plan.steps.length, r.stdout);
  });
  after(async () => {
    await server?.cleanup();
    if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  });

  const ok = (label: string): Record<string, unknown> => {
    const x = replies.get(label)!;
    assert.equal(x.status, 200, `${label}: ${JSON.stringify(x)}`);
    return x.body as Record<string, unknown>;
  };
  /** State notifications are best effort and appended after the reply (spec §8.4): all three, awaited with a bound. */
  const stateNotifications = (): ReturnType<typeof logMessages> =>
    pollUntil(() => logMessages(server, `state-${REG}`), (m) => m.length >= 3, 'three state notifications', 5_000);
  const config = (label: string): string => {
    const body = ok(label);
    assert.equal(body.version, '2', label);
    return Buffer.from(String(body.binaryData), 'base64').toString();
  };

  it('get_config(0) returns the current config to RS256 and ES256 devices', () => {
    assert.equal(config('rs-config'), 'rs-config');
    assert.equal(config('es-config'), 'es-config');
  });

  it('publish_message events and states: 200 {}, in the log with exact bytes and the §8.1 attributes', async () => {
    for (const l of ['rs-event', 'rs-state', 'es-event', 'es-state']) assert.deepEqual(ok(l), {}, l);
    const telemetry = await logMessages(server, `telemetry-${REG}`);
    const byText = new Map(telemetry.map((m) => [Buffer.from(m.data, 'base64').toString(), m.attributes]));
    assert.deepEqual(byText.get('rs-hello'), identityAttributes(REG, rs));
    assert.deepEqual(byText.get('es-hello'), identityAttributes(REG, es));
    const states = await stateNotifications();
    const stateByText = new Map(states.map((m) => [Buffer.from(m.data, 'base64').toString(), m.attributes]));
    assert.deepEqual(stateByText.get('rs-state'), identityAttributes(REG, rs));
    assert.deepEqual(stateByText.get('es-state'), identityAttributes(REG, es));
    const rsNow = await pollUntil(() => adminDevice(server, REG, rs.id), (x) => x.lastEventTime !== undefined && x.lastStateTime !== undefined, 'py-rs activity');
    assert.equal(Buffer.from(String((rsNow.state as { binaryData: string }).binaryData), 'base64').toString(), 'rs-state');
  });

  it('a gateway acting for its bound device, and the device through the gateway: attributed to the device', async () => {
    assert.equal(config('gw-config-for-d'), 'bound-config');
    assert.equal(config('d-config-via-gw'), 'bound-config');
    for (const l of ['gw-event-for-d', 'gw-state-for-d', 'd-event-via-gw']) assert.deepEqual(ok(l), {}, l);

    const telemetry = await logMessages(server, `telemetry-${REG}`);
    const byText = new Map(telemetry.map((m) => [Buffer.from(m.data, 'base64').toString(), m.attributes]));
    assert.deepEqual(byText.get('gw-for-bound'), identityAttributes(REG, d));
    assert.deepEqual(byText.get('bound-via-gw'), identityAttributes(REG, d));
    assert.ok(telemetry.every((m) => m.attributes.deviceId !== gw.id), 'nothing attributed to the gateway');
    const states = await stateNotifications();
    assert.deepEqual(states.find((m) => Buffer.from(m.data, 'base64').toString() === 'gw-state-for-bound')?.attributes, identityAttributes(REG, d));
    const history = await api(server, 'GET', `/v1/projects/${PROJECT}/locations/${REGION}/registries/${REG}/devices/${d.id}/states`);
    assert.deepEqual(
      (history.json.deviceStates as { binaryData: string }[]).map((s) => Buffer.from(s.binaryData, 'base64').toString()),
      ['gw-state-for-bound'],
    );

    const bound = await pollUntil(
      () => adminDevice(server, REG, d.id),
      (x) => (x.gatewayConfig as { lastAccessedGatewayId?: string }).lastAccessedGatewayId !== undefined && x.lastEventTime !== undefined,
      'py-bound gateway activity',
    );
    const gc = bound.gatewayConfig as { lastAccessedGatewayId?: string; lastAccessedGatewayTime?: string };
    assert.equal(gc.lastAccessedGatewayId, gw.id);
    assert.ok(gc.lastAccessedGatewayTime, 'lastAccessedGatewayTime');
    assert.ok(bound.lastStateTime && bound.lastConfigSendTime, JSON.stringify(bound));
  });

  it('a device not bound to the gateway is refused 403 GATEWAY_DENIED either way, and nothing is logged', async () => {
    for (const l of ['gw-event-for-u', 'gw-config-for-u', 'u-event-via-gw']) {
      const x = replies.get(l)!;
      assert.equal(x.status, 403, `${l}: ${JSON.stringify(x)}`);
      assert.equal((x.body as { error: { status: string } }).error.status, 'PERMISSION_DENIED', l);
      assert.equal(x.reason, 'GATEWAY_DENIED', l);
    }
    const telemetry = await logMessages(server, `telemetry-${REG}`);
    assert.ok(telemetry.every((m) => m.attributes.deviceId !== u.id && !Buffer.from(m.data, 'base64').toString().includes('unbound')));
  });
});
