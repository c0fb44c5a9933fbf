import type { IPublishPacket, Packet } from 'mqtt-packet';
import { decideAttach, gatewayErrorJson, parseAttachPayload, type GatewayErrorType } from '../../domain/gateway-attach.js';
import { errorsTopic } from '../../domain/mqtt-topics.js';
import { isResourceId } from '../../domain/ids.js';
import type { GatewayErrorRecord } from '../../services/gateway-error-history.js';
import { newSlot } from './device-slot.js';
import type { GatewayContext, PendingDeviceError } from './handlers/context.js';
import { CLOSE_STATUS, type AttachLookup, type CloseReason, type DeviceSlot } from './session-types.js';

/**
 * Gateways over the MQTT bridge (spec §6): attach and detach control messages, and the errors
 * topic. A gateway is an ordinary session whose slots also hold the devices attached to it.
 */

/** The MQTT packet type names used in `mqtt_message_info.message_type`. */
const TYPE_NAMES: Record<string, string> = {
  publish: 'PUBLISH',
  puback: 'PUBACK',
  pubrec: 'PUBREC',
  pubrel: 'PUBREL',
  pubcomp: 'PUBCOMP',
  subscribe: 'SUBSCRIBE',
  unsubscribe: 'UNSUBSCRIBE',
  connack: 'CONNACK',
  suback: 'SUBACK',
  unsuback: 'UNSUBACK',
  pingresp: 'PINGRESP',
};

function packetInfo(p: Packet | undefined, filter?: string): { messageType: string; topic: string; packetId: number } | undefined {
  if (!p) return undefined;
  const topic = p.cmd === 'publish' ? p.topic : p.cmd === 'subscribe' ? (filter ?? p.subscriptions[0]?.topic ?? '') : '';
  const packetId = 'messageId' in p && typeof p.messageId === 'number' ? p.messageId : 0;
  return { messageType: TYPE_NAMES[p.cmd] ?? p.cmd.toUpperCase(), topic, packetId };
}

/** The gateway's own slot: everything here runs on an authenticated gateway connection. */
const gatewayOf = (s: GatewayContext): DeviceSlot => s.own!;

/**
 * Reports an error to the gateway's errors topic (if subscribed), the gateway's error history
 * (docs/compat.md C-CONSOLE-GATEWAY-ERRORS), the affected device's lastErrorStatus and the log.
 */
export function gatewayError(
  s: GatewayContext,
  type: GatewayErrorType,
  deviceId: string,
  description: string,
  packet?: Packet,
  numId?: string,
  filter?: string,
): void {
  const gw = s.own!;
  const at = s.env.clock.now();
  const delivered = s.errorsSubscribed;
  // The record is the message's fields themselves: the JSON is built from it, and the ring keeps it.
  const record: GatewayErrorRecord = { at, errorType: type, deviceId, description, delivered };
  const info = packetInfo(packet, filter);
  if (info) record.packet = info;
  const json = gatewayErrorJson(record);
  if (delivered) {
    s.send({ cmd: 'publish', topic: errorsTopic(gw.device.id), payload: Buffer.from(json), qos: 0, retain: false, dup: false });
    s.env.metrics.messageOut('error');
  }
  (s.errorRing ??= s.env.gatewayErrors.open(gw.device.numId, at)).push(record);
  const status = { code: 9, message: `mqtt: SERVER: ${type}: ${description}` };
  const affected = numId ?? s.slots.get(deviceId)?.device.numId;
  if (affected) s.env.activity.error(affected, at, status);
  else if (isResourceId(deviceId)) recordOnNamedDevice(s, deviceId, { at, status });
  s.deviceLog(gw, 'ERROR', 'GATEWAY_ERROR', { errorType: type, affectedDeviceId: deviceId });
  s.log.info({ errorType: type, affectedDeviceId: deviceId }, 'gateway error');
}

/**
 * A device the gateway does not hold: the error is recorded on it if it exists. Each ID is looked
 * up once per connection, so a gateway repeating the same mistake costs no store reads; while the
 * lookup is under way, the latest error waits for its answer (`errorDeviceFound`).
 */
function recordOnNamedDevice(s: GatewayContext, deviceId: string, error: PendingDeviceError): void {
  const known = (s.errorDevices ??= new Map());
  const cached = known.get(deviceId);
  if (typeof cached === 'string') return s.env.activity.error(cached, error.at, error.status);
  if (cached === null) return;
  known.set(deviceId, error);
  if (cached === undefined) {
    // Bounded: a gateway naming ever new devices cannot grow it (lookups under way are kept).
    if (known.size > 1024) for (const [id, v] of known) if (typeof v !== 'object' || v === null) known.delete(id);
    s.requestErrorDevice(gatewayOf(s).device.registryKey, deviceId);
  }
}

/** The answer to `recordOnNamedDevice`'s lookup (numId undefined: no such device). */
export function errorDeviceFound(s: GatewayContext, deviceId: string, numId: string | undefined): void {
  const known = s.errorDevices;
  const pending = known?.get(deviceId);
  if (!known || typeof pending !== 'object' || pending === null) return;
  known.set(deviceId, numId ?? null);
  if (numId !== undefined) s.env.activity.error(numId, pending.at, pending.status);
}

/** The lookup failed: nothing is recorded, and a later error for the device tries again. */
export function errorDeviceLookupFailed(s: GatewayContext, deviceId: string): void {
  const pending = s.errorDevices?.get(deviceId);
  if (typeof pending === 'object' && pending !== null) s.errorDevices!.delete(deviceId);
}

/**
 * attach / detach from a gateway (spec §6.2, §6.4). An attach asks for what its decision needs;
 * later packets of the connection wait until `attachLookedUp` has decided it.
 */
export function handleControl(s: GatewayContext, p: IPublishPacket, kind: 'attach' | 'detach', deviceId: string): void {
  const own = gatewayOf(s);
  if (kind === 'detach') {
    const slot = s.slots.get(deviceId);
    if (slot && slot !== own) {
      detachSlot(s, slot);
      s.env.metrics.gatewayDetach('gateway');
    }
    // Detaching a device that is not attached is ignored, and still acknowledged (seed guide).
    if (p.qos === 1) s.send({ cmd: 'puback', messageId: p.messageId! });
    return;
  }
  if (s.slots.has(deviceId)) {
    // Attaching an attached device (or the gateway itself) succeeds (spec §6.4).
    s.env.metrics.gatewayAttach('accepted');
    if (p.qos === 1) s.send({ cmd: 'puback', messageId: p.messageId! });
    return;
  }
  const payload = parseAttachPayload((p.payload as Buffer).toString('utf8'));
  if (!payload) {
    s.env.metrics.gatewayAttach('refused');
    gatewayError(s, 'GATEWAY_ATTACHMENT_ERROR', deviceId, 'The attach payload is not JSON of the form {"authorization":"<device JWT>"}.', p);
    return;
  }
  s.attaching = { packet: p, deviceId };
  s.requestAttachLookup({
    gatewayNumId: own.device.numId,
    knownMethod: own.device.gatewayConfig.gatewayAuthMethod,
    // The registry as it is now: its project is the audience of the device's JWT.
    registry: s.registryOf(own),
    deviceId,
    token: payload.token,
  });
}

/** The facts of the attach under way are in: decide it (spec §6.2), then go on with held packets. */
export function attachLookedUp(s: GatewayContext, lookup: AttachLookup): void {
  const attaching = s.attaching;
  if (!attaching) return;
  s.attaching = undefined;
  if (s.phase === 'connected') decide(s, attaching.packet, attaching.deviceId, lookup);
  // Decided on a connection already closing: nobody was told, and nothing was attached.
  else s.env.metrics.gatewayAttach('refused');
  s.drainPending();
}

/** The attach under way could not be looked up (our failure): UNKNOWN, and the next packets go on. */
export function attachLookupFailed(s: GatewayContext): void {
  const attaching = s.attaching;
  if (!attaching) return;
  s.attaching = undefined;
  const { deviceId, packet } = attaching;
  s.env.metrics.gatewayAttach('refused');
  if (s.phase === 'connected') gatewayError(s, 'UNKNOWN', deviceId, `Device "${deviceId}" could not be attached: internal error.`, packet);
  s.drainPending();
}

function decide(s: GatewayContext, p: IPublishPacket, deviceId: string, lookup: AttachLookup): void {
  const own = gatewayOf(s);
  own.device.gatewayConfig.gatewayAuthMethod = lookup.method;
  const { device } = lookup;
  const decision = decideAttach({
    method: lookup.method,
    deviceExists: device !== undefined,
    deviceBlocked: device?.blocked ?? false,
    deviceIsGateway: device?.gatewayConfig.gatewayType === 'GATEWAY',
    bound: lookup.bound,
    token: lookup.token,
    alreadyAttached: s.slots.has(deviceId),
    attachedCount: s.slots.size - 1,
    maxAttached: s.env.limits.maxAttachedPerGateway,
  });
  if (!decision.ok || !device) {
    const reason = decision.ok ? 'the device does not exist' : decision.reason;
    s.env.metrics.gatewayAttach('refused');
    gatewayError(s, 'GATEWAY_ATTACHMENT_ERROR', deviceId, `Device "${deviceId}" could not be attached: ${reason}.`, p, device?.numId);
    return;
  }
  if (!s.slots.has(deviceId)) {
    const slot = newSlot(device, s.registryOf(own), lookup.credentialKey);
    s.slots.set(device.id, slot);
    // Latest attach wins: another gateway or a direct connection holding the device lets go
    // (docs/compat.md C-GW-TAKEOVER).
    s.claimDevice(device.numId);
    s.recordGatewayAccess(device.numId, own.device.id, s.env.clock.now());
    s.deviceLog(slot, 'INFO', 'ATTACH', { gatewayId: own.device.id });
  }
  s.env.metrics.gatewayAttach('accepted');
  if (p.qos === 1) s.send({ cmd: 'puback', messageId: p.messageId! });
}

/** Ends an attachment: the device's subscriptions and pending deliveries go with it. */
export function detachSlot(s: GatewayContext, slot: DeviceSlot): void {
  s.slots.delete(slot.device.id);
  s.releaseDevice(slot.device.numId);
  for (const [id, o] of s.outbound) {
    if (o.slot === slot) {
      s.outbound.delete(id);
      if (o.kind === 'command') o.resolve(true);
    }
  }
  s.deviceLog(slot, 'INFO', 'DETACH', { gatewayId: s.own?.device.id });
}

/** The bridge detached a device because of the device's own error (spec §6.3, §6.6). */
export function detachForError(s: GatewayContext, slot: DeviceSlot, description: string): void {
  detachSlot(s, slot);
  s.env.metrics.gatewayDetach('server');
  gatewayError(s, 'GATEWAY_DETACHMENT_DEVICE_ERROR', slot.device.id, description, undefined, slot.device.numId);
}

// ---- rules a device's connection is closed for, but a gateway is only told about (spec §6.6) ----

const deviceIdOf = (topic: string): string | undefined => /^\/devices\/([^/]+)/.exec(topic)?.[1];

/** Gateways get a GATEWAY_UNEXPECTED_MESSAGE_TYPE error (spec §6.6); a device is disconnected. */
export function unexpectedPacket(s: GatewayContext, packet: Packet): void {
  if (!s.isGateway) return s.close('protocol-error');
  gatewayError(s, 'GATEWAY_UNEXPECTED_MESSAGE_TYPE', gatewayOf(s).device.id, `Unexpected ${packet.cmd.toUpperCase()} packet on a gateway connection.`, packet);
}

/**
 * Publish to a topic outside the grammar: closes a device's connection (spec §5.3); a gateway
 * gets GATEWAY_INVALID_MQTT_TOPIC and keeps it (spec §6.6).
 */
export function invalidPublishTopic(s: GatewayContext, p: Packet): void {
  if (!s.isGateway) return s.close('invalid-topic');
  const topic = p.cmd === 'publish' ? p.topic : '';
  gatewayError(s, 'GATEWAY_INVALID_MQTT_TOPIC', deviceIdOf(topic) ?? gatewayOf(s).device.id, `"${topic.slice(0, 300)}" is not a topic of the MQTT bridge.`, p);
}

/**
 * Publish on the topic of a device this connection does not serve: another device's topic
 * closes a device's connection; for a gateway it is GATEWAY_DEVICE_NOT_FOUND, no PUBACK, the
 * connection stays (spec §6.3).
 */
export function publishForUnknownDevice(s: GatewayContext, p: Packet, device: string, kind: string): void {
  if (!s.isGateway) return s.close(kind === 'attach' || kind === 'detach' ? 'control-message-from-non-gateway' : 'invalid-topic');
  if (kind === 'attach' || kind === 'detach') return controlMessage(s, p, kind, device);
  gatewayError(s, 'GATEWAY_DEVICE_NOT_FOUND', device, `Device "${device}" is not attached to gateway "${gatewayOf(s).device.id}".`, p);
}

/** A subscription for a device the connection does not serve: 0x80; gateways are told why. */
export function subscribeForUnknownDevice(s: GatewayContext, p: Packet, device: string, filter: string): number {
  if (s.isGateway) {
    gatewayError(s, 'GATEWAY_DEVICE_NOT_FOUND', device, `Device "${device}" is not attached to gateway "${gatewayOf(s).device.id}".`, p, undefined, filter);
  }
  return 0x80;
}

/** attach/detach: only gateways may send them (spec §6.1). */
export function controlMessage(s: GatewayContext, p: Packet, kind: 'attach' | 'detach', device: string): void {
  if (!s.isGateway) return s.close('control-message-from-non-gateway');
  handleControl(s, p as IPublishPacket, kind, device);
}

/**
 * A device broke a per-device rule: a direct device is disconnected (spec §5.7, §5.8); a
 * device attached to a gateway is detached with GATEWAY_DETACHMENT_DEVICE_ERROR (spec §6.3).
 */
export function deviceViolation(s: GatewayContext, slot: DeviceSlot, reason: CloseReason): void {
  if (slot === s.own) return s.close(reason);
  const status = CLOSE_STATUS[reason];
  detachForError(s, slot, `Device "${slot.device.id}" was detached because of a device error: ${status?.message.replace('mqtt: SERVER: ', '') ?? reason}`);
}

/** A PUBACK for nothing the bridge sent: ignored for a device; gateways are told (spec §6.6). */
export function unexpectedPacketId(s: GatewayContext, packet: Packet): void {
  if (s.isGateway) {
    const id = 'messageId' in packet ? String(packet.messageId) : '?';
    gatewayError(s, 'GATEWAY_UNEXPECTED_PACKET_ID', gatewayOf(s).device.id, `No message with packet ID ${id} awaits an acknowledgement.`, packet);
  }
}

const DETACHED_BECAUSE: Record<string, string> = {
  'device-blocked': 'the device was blocked',
  'device-deleted': 'the device was deleted',
  'credentials-changed': 'the credential it attached with was removed',
  'device-unbound': 'the device was unbound from the gateway',
  'session-taken-over': 'the device was attached to another gateway or connected directly',
};

/** An attached device is detached when the API blocks, deletes or unbinds it, or it moves away. */
export function endAttached(s: GatewayContext, numId: string, reason: string): void {
  let slot: DeviceSlot | undefined;
  for (const candidate of s.slots.values()) if (candidate.device.numId === numId) slot = candidate;
  if (!slot || slot === s.own) return;
  detachForError(s, slot, `Device "${slot.device.id}" was detached: ${DETACHED_BECAUSE[reason] ?? reason}.`);
}
