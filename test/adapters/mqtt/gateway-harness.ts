import assert from 'node:assert/strict';
import type { Packet } from 'mqtt-packet';
import type { MqttLimits } from '../../../src/adapters/mqtt/session-types.js';
import type { GatewayAuthMethod } from '../../../src/domain/model.js';
import { Harness, publish, subscribe, type Conn } from './harness.js';

/**
 * Gateway helpers over the socket-free session harness, for the gateway-*.test.ts files (spec §6;
 * docs/compat.md "Gateways"). Telemetry and state are committed along with every other answer
 * here (`autoCommit`): these tests are about the session's answers, and the sink's own durability
 * is tested elsewhere.
 *
 * (`node --test dist/test/` runs this file too; it only declares things.)
 */

export interface GwError {
  error_type: string;
  device_id: string;
  description: string;
  mqtt_message_info?: { message_type: string; topic: string; packet_id: number };
}

export const errorsTopic = (gw: string): string => `/devices/${gw}/errors`;

/** The errors-topic messages among `packets`, parsed; each must be QoS 0, compact JSON. */
export function gwErrors(packets: readonly Packet[], gw: string): GwError[] {
  const out: GwError[] = [];
  for (const p of packets) {
    if (p.cmd !== 'publish' || p.topic !== errorsTopic(gw)) continue;
    assert.equal(p.qos, 0, 'errors are published at QoS 0');
    const text = (p.payload as Buffer).toString('utf8');
    assert.equal(text.includes('\n'), false);
    out.push(JSON.parse(text) as GwError);
  }
  return out;
}

export const errorTypes = (packets: readonly Packet[], gw: string): string[] => gwErrors(packets, gw).map((x) => x.error_type);

export const pubacks = (packets: readonly Packet[]): number[] => packets.flatMap((p) => (p.cmd === 'puback' ? [p.messageId ?? -1] : []));

export const attach = (device: string, messageId: number, payload: string | Buffer = '{"authorization":""}'): Packet =>
  publish(`/devices/${device}/attach`, payload, 1, messageId);

export const detach = (device: string, messageId: number): Packet => publish(`/devices/${device}/detach`, '{}', 1, messageId);

/** An attach payload carrying a device JWT. */
export const withToken = (token: string): string => JSON.stringify({ authorization: token });

/** The GATEWAY_DEVICE_NOT_FOUND error for a packet about `device`, which gw-1 has not attached. */
export const notAttached = (device: string, messageType: string, topic: string, packetId: number): GwError => ({
  error_type: 'GATEWAY_DEVICE_NOT_FOUND',
  device_id: device,
  description: `Device "${device}" is not attached to gateway "gw-1".`,
  mqtt_message_info: { message_type: messageType, topic, packet_id: packetId },
});

/** A harness whose `answerAll` (and so `Conn.sync`) also commits telemetry and state. */
export async function gatewayHarness(limits: Partial<MqttLimits> = {}): Promise<Harness> {
  const h = await Harness.create({ limits });
  h.io.autoCommit = true;
  return h;
}

/** Connects gateway `id` and subscribes it to its errors topic. */
export async function gatewayConn(h: Harness, id: string): Promise<Conn> {
  const c = await h.connected(id);
  c.send(subscribe(9000, [errorsTopic(id), 0]));
  assert.deepEqual(c.transport.take(), [{ cmd: 'suback', messageId: 9000, granted: [0] }]);
  return c;
}

export interface GatewaySetup {
  /** gw-1's auth method; ASSOCIATION_ONLY unless given. */
  method?: GatewayAuthMethod;
  /** Devices bound to gw-1. */
  bound?: readonly string[];
  /** Devices that exist but are not bound. */
  unbound?: readonly string[];
  /** Every device's config data. */
  config?: string;
  limits?: Partial<MqttLimits>;
}

/** Gateway gw-1 and its devices, nothing connected yet. */
export async function gatewayFleet(o: GatewaySetup = {}): Promise<Harness> {
  const h = await gatewayHarness(o.limits);
  await h.addDevice('gw-1', { gateway: o.method ?? 'ASSOCIATION_ONLY' });
  const config = o.config === undefined ? undefined : Buffer.from(o.config);
  for (const id of [...(o.bound ?? []), ...(o.unbound ?? [])]) await h.addDevice(id, { config });
  for (const id of o.bound ?? []) await h.bind('gw-1', id);
  return h;
}

/** The usual start: gatewayFleet, with gw-1 connected and subscribed to its errors. */
export async function withGateway(o: GatewaySetup = {}): Promise<{ h: Harness; gw: Conn }> {
  const h = await gatewayFleet(o);
  return { h, gw: await gatewayConn(h, 'gw-1') };
}

/** Attaches and checks the PUBACK. */
export async function attached(c: Conn, device: string, messageId: number, payload?: string): Promise<void> {
  c.send(attach(device, messageId, payload));
  const out = await c.sync();
  assert.deepEqual(out, [{ cmd: 'puback', messageId }], `attach of ${device}: ${JSON.stringify(gwErrors(out, c.id))}`);
}

/** Asserts one GATEWAY_ATTACHMENT_ERROR for the attach packet and nothing else. */
export function assertAttachmentError(out: readonly Packet[], gw: string, device: string, messageId: number, reason?: RegExp): void {
  assert.deepEqual(pubacks(out), [], 'a failed attach is not acknowledged');
  const errors = gwErrors(out, gw);
  assert.equal(errors.length, 1, JSON.stringify(out));
  const e = errors[0]!;
  assert.equal(e.error_type, 'GATEWAY_ATTACHMENT_ERROR');
  assert.equal(e.device_id, device);
  assert.deepEqual(e.mqtt_message_info, { message_type: 'PUBLISH', topic: `/devices/${device}/attach`, packet_id: messageId });
  assert.deepEqual(Object.keys(e), ['error_type', 'device_id', 'description', 'mqtt_message_info']);
  if (reason) assert.match(e.description, reason);
}

/** Asserts `id`'s lastErrorStatus is the gateway error `type` (FAILED_PRECONDITION), recorded now. */
export async function assertLastError(h: Harness, id: string, type: string): Promise<void> {
  const d = await h.flushedDevice(id);
  assert.equal(d.lastErrorStatus?.code, 9, `${id} lastErrorStatus: ${JSON.stringify(d.lastErrorStatus)}`);
  assert.match(d.lastErrorStatus.message, new RegExp(`^mqtt: SERVER: ${type}: `));
  assert.equal(d.lastErrorTime, h.clock.now());
}
