import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { mergeServerArgs } from '../../bench/lib.js';
import { LoadConnection, type DialSpec } from '../../bench/loadgen/connection.js';
import { parseGatewayError, runAttach } from '../../bench/loadgen/gateway-phases.js';
import { renderSingleTable, type MetricDef } from '../../bench/loadgen/report.js';

/**
 * A scripted broker on loopback for the load generator's gateway side: CONNACK 0, SUBACK with
 * the requested QoS, and for `/devices/{id}/attach` a PUBACK, except for devices named
 * `refused-*` (an attach error on the errors topic, no PUBACK) and `silent-*` (no answer at all).
 * Every other QoS 1 PUBLISH is acknowledged; the topics are kept in arrival order.
 */
class FakeBroker {
  readonly published: Array<{ topic: string; messageId: number | undefined }> = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      const parser = mqtt.parser({ protocolVersion: 4 });
      let gateway = '';
      const send = (p: Parameters<typeof mqtt.generate>[0]): void => void socket.write(mqtt.generate(p));
      parser.on('packet', (p: Packet) => {
        if (p.cmd === 'connect') {
          gateway = /\/devices\/([^/]+)$/.exec(p.clientId)?.[1] ?? '';
          send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
        } else if (p.cmd === 'subscribe') {
          send({ cmd: 'suback', messageId: p.messageId ?? 0, granted: p.subscriptions.map((s) => s.qos) });
        } else if (p.cmd === 'publish') {
          this.published.push({ topic: p.topic, messageId: p.messageId });
          const device = /^\/devices\/([^/]+)\/attach$/.exec(p.topic)?.[1];
          if (device?.startsWith('silent-') === true) return;
          if (device?.startsWith('refused-') === true) {
            const error = { error_type: 'GATEWAY_ATTACHMENT_ERROR', device_id: device, description: 'not bound', mqtt_message_info: { message_type: 'PUBLISH', topic: p.topic, packet_id: p.messageId } };
            send({ cmd: 'publish', topic: `/devices/${gateway}/errors`, payload: Buffer.from(JSON.stringify(error)), qos: 0, retain: false, dup: false });
            return;
          }
          if (p.qos === 1) send({ cmd: 'puback', messageId: p.messageId ?? 0 });
        } else if (p.cmd === 'disconnect') {
          socket.end();
        }
      });
      socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    });
  }

  async listen(): Promise<DialSpec> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return { transport: 'plain', host: '127.0.0.1', port: (this.server.address() as AddressInfo).port };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const login = (id: string): { deviceId: string; clientId: string; username: string; password: string } => ({
  deviceId: id,
  clientId: `projects/p/locations/l/registries/r/devices/${id}`,
  username: 'unused',
  password: 'jwt',
});

const attachJob = (dial: DialSpec, deviceIds: string[], mode: 'sequential' | 'pipelined', group: string | null = null) => ({
  kind: 'attach' as const,
  group,
  dial,
  gateways: [{ login: login('gw-1'), deviceIds }],
  mode,
  keepaliveSeconds: 60,
  connectTimeoutMs: 5_000,
  attachTimeoutMs: 300,
  deadlineMs: 10_000,
});

describe('gateway load generator against a scripted broker', () => {
  const broker = new FakeBroker();
  let dial: DialSpec;
  before(async () => {
    dial = await broker.listen();
  });
  after(() => broker.close());

  for (const mode of ['sequential', 'pipelined'] as const) {
    test(`${mode} attach: PUBACK attaches, an errors-topic refusal and silence do not`, async () => {
      const marks: string[] = [];
      const { group, result } = await runAttach(attachJob(dial, ['dev-1', 'refused-1', 'dev-2', 'silent-1', 'dev-3'], mode), (m) => marks.push(m));
      assert.deepEqual(marks, ['measure-start', 'measure-end']);
      assert.equal(result.connected, 1);
      assert.equal(result.attempted, 5);
      assert.equal(result.attached, 3);
      assert.equal(result.refused, 1);
      assert.equal(result.timedOut, 1);
      assert.equal(result.latency.count, 3);
      assert.equal(result.totalsMs.length, 1);
      assert.deepEqual(result.gatewayErrors, [{ message: 'GATEWAY_ATTACHMENT_ERROR', count: 1 }]);
      assert.equal(group.conns.length, 0, 'without a group name the gateway disconnects');
    });
  }

  test('a kept gateway relays for the devices it attached, rotating over their topics', async () => {
    const { group, result } = await runAttach(attachJob(dial, ['dev-a', 'refused-b', 'dev-c'], 'pipelined', 'relay'), () => undefined);
    assert.equal(result.attached, 2);
    const conn = group.conns[0];
    assert.ok(conn !== undefined);
    assert.deepEqual([...conn.relayFor].sort(), ['dev-a', 'dev-c']);
    broker.published.length = 0;
    let acks = 0;
    conn.onAck = () => {
      acks += 1;
      if (acks === 6) conn.stopSending();
    };
    conn.prepareTelemetry(conn.relayFor.map((id) => `/devices/${id}/events`), Buffer.from('x'.repeat(64)), 2);
    conn.startSending();
    const until = Date.now() + 5_000;
    while (acks < 6 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.ok(acks >= 6, `only ${acks} PUBACKs`);
    const topics = broker.published.slice(0, 6).map((p) => p.topic);
    const [first, second] = conn.relayFor;
    assert.deepEqual(topics, [first, second, first, second, first, second].map((id) => `/devices/${id ?? ''}/events`));
    const ids = broker.published.slice(0, 6).map((p) => p.messageId ?? 0);
    assert.ok(ids.every((id) => id >= 1 && id <= 2), `window ids ${ids.join(',')}`);
    assert.equal(conn.strayAcks, 0);
    await conn.close(1_000);
  });

  test('control-range PUBACKs reach onControlAck with the ids publishBatch returned', async () => {
    const conn = new LoadConnection(login('gw-2'));
    await conn.connect(dial, 60, 5_000);
    const acked: number[] = [];
    conn.onControlAck = (id) => acked.push(id);
    const ids = conn.publishBatch(
      ['x', 'y', 'z'].map((d) => ({ topic: `/devices/${d}/attach`, payload: Buffer.from('{}') })),
      1,
    );
    assert.equal(new Set(ids).size, 3);
    const until = Date.now() + 5_000;
    while (acked.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(acked, ids);
    await conn.close(1_000);
  });
});

describe('gateway bench helpers', () => {
  test('errors-topic messages are read as documented (spec §6.5)', () => {
    const msg = { error_type: 'GATEWAY_DEVICE_NOT_FOUND', device_id: 'd-1', description: 'x', mqtt_message_info: { message_type: 'PUBLISH', topic: '/devices/d-1/events', packet_id: 7 } };
    assert.deepEqual(parseGatewayError(Buffer.from(JSON.stringify(msg))), { errorType: 'GATEWAY_DEVICE_NOT_FOUND', deviceId: 'd-1', packetId: 7 });
    assert.deepEqual(parseGatewayError(Buffer.from('{"error_type":"GATEWAY_DETACHMENT_DEVICE_ERROR","device_id":"d-2"}')), {
      errorType: 'GATEWAY_DETACHMENT_DEVICE_ERROR',
      deviceId: 'd-2',
    });
    assert.match(parseGatewayError(Buffer.from('not json')).errorType, /not JSON/);
    assert.match(parseGatewayError(Buffer.from('[1]')).errorType, /not a JSON object/);
    assert.match(parseGatewayError(Buffer.from('{}')).errorType, /without error_type/);
  });

  test('the one-server table has the same style and skips rows never measured', () => {
    const defs: MetricDef[] = [
      { key: 'total', label: 'attach 1,000 devices: total', unit: 'ms' },
      { key: 'rate', label: '  attaches', unit: 'rate' },
      { key: 'absent', label: 'never measured', unit: 'ms' },
    ];
    const lines = renderSingleTable(defs, new Map([['total', { value: 318.4, note: '(median of 3)' }], ['rate', { value: 3141.6 }]])).split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0] ?? '', /^metric\s+\|\s+Bridgehead$/);
    assert.match(lines[1] ?? '', /^-+-\|-+$/);
    assert.match(lines[2] ?? '', /^attach 1,000 devices: total \(ms\) \| 318 \(median of 3\)$/);
    assert.match(lines[3] ?? '', /^ {2}attaches \(\/s\)\s+\|\s+3,142$/);
  });

  test('server flags of several sections merge flag by flag', () => {
    assert.deepEqual(
      mergeServerArgs([
        { serverArgs: ['--mqtt-max-msgs-per-sec', '0', '--verbose'] },
        { serverArgs: ['--event-retention-hours', '0', '--mqtt-max-msgs-per-sec', '0'] },
        {},
      ]),
      ['--mqtt-max-msgs-per-sec', '0', '--verbose', '--event-retention-hours', '0'],
    );
  });
});
