import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { iotClient, rejectsWith } from '../support/iot-client.js';
import { createDevice, createRegistry, logMessages, PROJECT, REGION, type TestDevice } from '../support/fleet.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * A gateway written like Cloud IoT Core's own Python gateway samples (paho-mqtt, TLS with the
 * pinned CA, ASSOCIATION_ONLY) against the real server process (spec §6; docs/compat.md
 * "Gateways"). test/e2e/paho_gateway.py runs the flow and reports each observation as a JSON line;
 * this test does the cloud side through @google-cloud/iot and asserts.
 */

const PYTHON = '/usr/bin/python3';
// Tests run from dist/test/e2e; the script stays in the source tree.
const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../test/e2e/paho_gateway.py');
const WAIT_MS = 20_000;

interface Line {
  ev: string;
  [k: string]: unknown;
}

/** The script's stdout as JSON lines; each expectation consumes the first unconsumed match. */
class Script {
  readonly lines: Line[] = [];
  private readonly used = new Set<number>();
  private readonly listeners = new Set<() => void>();
  private exited: number | null | undefined;
  private stderr = '';

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (text) => {
      try {
        this.lines.push(JSON.parse(text) as Line);
      } catch {
        this.lines.push({ ev: 'unparsed', text });
      }
      this.notify();
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.once('exit', (code) => {
      this.exited = code;
      this.notify();
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private describe(): string {
    return `lines so far:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${this.stderr}`;
  }

  /** Resolves with the first unconsumed line matching `pred`; fails on a timeout, a "fail" line or the script's exit. */
  expect(pred: (l: Line) => boolean, what: string): Promise<Line> {
    return new Promise((res, rej) => {
      const check = (): boolean => {
        const i = this.lines.findIndex((l, idx) => !this.used.has(idx) && pred(l));
        if (i >= 0) {
          this.used.add(i);
          res(this.lines[i]!);
          return true;
        }
        const failed = this.lines.find((l) => l.ev === 'fail');
        if (failed || this.exited !== undefined) {
          rej(new Error(`script ${failed ? 'failed' : `exited (${String(this.exited)})`} while waiting for ${what}\n${this.describe()}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        rej(new Error(`timed out waiting for ${what}\n${this.describe()}`));
      }, WAIT_MS);
      const listener = (): void => {
        if (check()) {
          clearTimeout(timer);
          this.listeners.delete(listener);
        }
      };
      this.listeners.add(listener);
    });
  }

  ev(ev: string, extra: (l: Line) => boolean = () => true): Promise<Line> {
    return this.expect((l) => l.ev === ev && extra(l), ev);
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  exit(): Promise<number | null> {
    if (this.exited !== undefined) return Promise.resolve(this.exited);
    return new Promise((res) => this.child.once('exit', (code) => res(code)));
  }
}

interface GatewayError {
  error_type: string;
  device_id: string;
  description: string;
  mqtt_message_info?: { message_type: string; topic: string; packet_id: number };
}

describe('a gateway like the Cloud IoT Core Python samples (paho-mqtt)', { skip: !existsSync(PYTHON) && 'no /usr/bin/python3' }, () => {
  const REG = 'reg-paho';
  let server: StartedServer;
  let client: ReturnType<typeof iotClient>;
  let gw: TestDevice;
  let script: Script;
  const devPath = (id: string): string => client.devicePath(PROJECT, REGION, REG, id);

  before(async () => {
    server = await startServer();
    client = iotClient(server);
    await createRegistry(server, REG);
    gw = await createDevice(server, REG, 'paho-gw', { body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
    await createDevice(server, REG, 'paho-sensor');
    await createDevice(server, REG, 'paho-stranger');
    await client.bindDeviceToGateway({ parent: client.registryPath(PROJECT, REGION, REG), gatewayId: 'paho-gw', deviceId: 'paho-sensor' });
    await client.modifyCloudToDeviceConfig({ name: devPath('paho-sensor'), binaryData: Buffer.from('{"fan":"on"}') });
    const url = new URL(server.info.mqtt[0]!);
    const child = spawn(
      PYTHON,
      [
        SCRIPT,
        '--host',
        url.hostname,
        '--port',
        url.port,
        '--ca',
        server.info.caFile,
        '--client-id',
        gw.clientId,
        '--jwt',
        await gw.jwt(),
        '--gateway-id',
        'paho-gw',
        '--device-id',
        'paho-sensor',
        '--unbound-device-id',
        'paho-stranger',
        '--attach-tries',
        '3',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    script = new Script(child);
  });

  after(async () => {
    if (script && script.child.exitCode === null) script.child.kill('SIGKILL');
    await client?.close();
    await server?.cleanup();
  });

  it('connects over TLS with the server CA and subscribes to its errors topic at QoS 0', async () => {
    assert.equal((await script.ev('connected')).rc, 0);
    const sub = await script.ev('subscribed', (l) => l.topic === '/devices/paho-gw/errors');
    assert.deepEqual(sub.granted, [0]);
  });

  it('attaches a bound device with {"authorization" : ""}: PUBACK; lastAccessedGatewayId is the gateway', async () => {
    await script.ev('puback', (l) => l.step === 'attach' && l.topic === '/devices/paho-sensor/attach');
    const [device] = await client.getDevice({ name: devPath('paho-sensor') });
    assert.equal(device.gatewayConfig?.lastAccessedGatewayId, 'paho-gw');
    assert.ok(device.gatewayConfig?.lastAccessedGatewayTime?.seconds, 'lastAccessedGatewayTime is set');
  });

  it('an unbound device: no PUBACK, GATEWAY_ATTACHMENT_ERROR each of 3 times, the connection survives', async () => {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const line = await script.ev('attach_error', (l) => l.attempt === attempt);
      const error = line.error as GatewayError;
      assert.equal(error.error_type, 'GATEWAY_ATTACHMENT_ERROR');
      assert.equal(error.device_id, 'paho-stranger');
      assert.deepEqual(error.mqtt_message_info, { message_type: 'PUBLISH', topic: '/devices/paho-stranger/attach', packet_id: line.mid });
      assert.equal(line.connected, true);
    }
    // Re-attaching the attached device is acknowledged; by then no failed attach was.
    await script.ev('puback', (l) => l.step === 'reattach');
    const acks = await script.ev('failed_attach_acks');
    assert.equal((acks.mids as number[]).length, 3);
    assert.deepEqual(acks.acked, []);
  });

  it("subscribing to the attached device's config delivers the latest config", async () => {
    const sub = await script.ev('subscribed', (l) => l.topic === '/devices/paho-sensor/config');
    assert.deepEqual(sub.granted, [1]);
    const config = await script.ev('message', (l) => l.topic === '/devices/paho-sensor/config');
    assert.equal(config.payload, '{"fan":"on"}');
    assert.equal(config.qos, 1);
    const cmds = await script.ev('subscribed', (l) => l.topic === '/devices/paho-sensor/commands/#');
    assert.deepEqual(cmds.granted, [0]);
  });

  it("state and telemetry for the device are stored as the device's, with its attributes", async () => {
    await script.ev('published');
    const [states] = await client.listDeviceStates({ name: devPath('paho-sensor') });
    assert.equal(Buffer.from(states.deviceStates?.[0]?.binaryData ?? '').toString(), 'state from the gateway');
    const [gwStates] = await client.listDeviceStates({ name: devPath('paho-gw') });
    assert.deepEqual(gwStates.deviceStates ?? [], []);

    const [device] = await client.getDevice({ name: devPath('paho-sensor') });
    const numId = String(device.numId);
    const telemetry = await logMessages(server, `telemetry-${REG}`);
    assert.deepEqual(
      telemetry.map((m) => Buffer.from(m.data, 'base64').toString()),
      ['event 0', 'event 1', 'event 2'],
    );
    for (const m of telemetry) {
      assert.deepEqual(m.attributes, {
        deviceId: 'paho-sensor',
        deviceNumId: numId,
        deviceRegistryId: REG,
        deviceRegistryLocation: REGION,
        projectId: PROJECT,
      });
    }
    const alerts = await logMessages(server, `alerts-${REG}`);
    assert.equal(alerts.length, 1);
    assert.equal(Buffer.from(alerts[0]!.data, 'base64').toString(), 'smoke');
    assert.equal(alerts[0]!.attributes.subFolder, 'alerts');
    assert.equal(alerts[0]!.attributes.deviceId, 'paho-sensor');
    const state = await logMessages(server, `state-${REG}`);
    assert.equal(state.length, 1);
    assert.equal(state[0]!.attributes.deviceId, 'paho-sensor');
  });

  it('a command sent with sendCommandToDevice reaches the gateway on the device topic', async () => {
    await script.ev('waiting', (l) => l.step === 'command');
    await client.sendCommandToDevice({ name: devPath('paho-sensor'), binaryData: Buffer.from('reboot'), subfolder: 'sys' });
    const msg = await script.ev('message', (l) => l.topic === '/devices/paho-sensor/commands/sys');
    assert.equal(msg.payload, 'reboot');
    assert.equal(msg.qos, 0);
    script.send('go');
  });

  it('detach (and detach again) are acknowledged; the device is then no longer reachable', async () => {
    await script.ev('puback', (l) => l.step === 'detach');
    await script.ev('puback', (l) => l.step === 'detach-again');
    await script.ev('waiting', (l) => l.step === 'disconnect');
    await rejectsWith(client.sendCommandToDevice({ name: devPath('paho-sensor'), binaryData: Buffer.from('x') }), 'FAILED_PRECONDITION');
    script.send('go');
  });

  it('disconnects cleanly; no unexpected gateway error was reported', async () => {
    assert.equal((await script.ev('disconnected')).rc, 0);
    assert.equal(await script.exit(), 0);
    const errors = script.lines
      .filter((l) => l.ev === 'message' && l.topic === '/devices/paho-gw/errors')
      .map((l) => (JSON.parse(String(l.payload)) as GatewayError).error_type);
    assert.deepEqual(errors, ['GATEWAY_ATTACHMENT_ERROR', 'GATEWAY_ATTACHMENT_ERROR', 'GATEWAY_ATTACHMENT_ERROR']);
  });
});
