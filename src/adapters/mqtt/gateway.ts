import type { IPublishPacket, Packet } from 'mqtt-packet';
import { attachNeeds, decideAttach, gatewayErrorJson, parseAttachPayload, type GatewayErrorType, type TokenCheck } from '../../domain/gateway-attach.js';
import { errorsTopic } from '../../domain/mqtt-topics.js';
import { isResourceId } from '../../domain/ids.js';
import type { MqttSession } from './session.js';
import type { DeviceSlot } from './session-types.js';

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

/**
 * Reports an error to the gateway's errors topic (if subscribed), the affected device's
 * lastErrorStatus and the log.
 */
export function gatewayError(
  s: MqttSession,
  type: GatewayErrorType,
  deviceId: string,
  description: string,
  packet?: Packet,
  numId?: string,
  filter?: string,
): void {
  const gw = s.own!;
  const json = gatewayErrorJson({ errorType: type, deviceId, description, ...(packet ? { packet: packetInfo(packet, filter)! } : {}) });
  if (s.errorsSubscribed) {
    s.transport.send({ cmd: 'publish', topic: errorsTopic(gw.device.id), payload: Buffer.from(json), qos: 0, retain: false, dup: false });
  }
  const status = { code: 9, message: `mqtt: SERVER: ${type}: ${description}` };
  const at = s.env.clock.now();
  const affected = numId ?? s.slots.get(deviceId)?.device.numId;
  if (affected) s.env.activity.error(affected, at, status);
  else if (isResourceId(deviceId)) {
    // A device the gateway does not hold: record it on the device if it exists. Looked up once
    // per connection, so a gateway repeating the same mistake costs no store reads.
    const known = (s.errorDevices ??= new Map());
    const cached = known.get(deviceId);
    if (cached !== undefined) {
      if (cached !== null) s.env.activity.error(cached, at, status);
    } else {
      s.env.store.getDevice(gw.device.registryKey, deviceId).then(
        (d) =>
          s.contain('recording a gateway error', () => {
            if (known.size >= 1024) known.clear();
            known.set(deviceId, d ? d.numId : null);
            if (d) s.env.activity.error(d.numId, at, status);
          }),
        () => undefined,
      );
    }
  }
  s.deviceLog(gw, 'ERROR', 'GATEWAY_ERROR', { errorType: type, affectedDeviceId: deviceId });
  s.log.info({ errorType: type, affectedDeviceId: deviceId }, 'gateway error');
}

/** attach / detach from a gateway (spec §6.2, §6.4). Runs serialised: later packets wait for it. */
export function handleControl(s: MqttSession, p: IPublishPacket, kind: 'attach' | 'detach', deviceId: string): void {
  const gw = s.own!;
  if (kind === 'detach') {
    const slot = s.slots.get(deviceId);
    if (slot && slot !== gw) detachSlot(s, slot);
    // Detaching a device that is not attached is ignored, and still acknowledged (seed guide).
    if (p.qos === 1) s.transport.send({ cmd: 'puback', messageId: p.messageId! });
    return;
  }
  const existing = s.slots.get(deviceId);
  if (existing) {
    // Attaching an attached device (or the gateway itself) succeeds (spec §6.4).
    if (p.qos === 1) s.transport.send({ cmd: 'puback', messageId: p.messageId! });
    return;
  }
  const payload = parseAttachPayload((p.payload as Buffer).toString('utf8'));
  if (!payload) {
    gatewayError(s, 'GATEWAY_ATTACHMENT_ERROR', deviceId, 'The attach payload is not JSON of the form {"authorization":"<device JWT>"}.', p);
    return;
  }
  s.serialise(attach(s, p, deviceId, payload.token));
}

async function attach(s: MqttSession, p: IPublishPacket, deviceId: string, token: string): Promise<void> {
  const gw = s.own!;
  const env = s.env;
  const registry = s.registryOf(gw);
  let device;
  try {
    // The gateway's auth method as it is now: the API may have changed it since CONNECT.
    const current = await env.store.getDeviceByNumId(gw.device.numId);
    if (current) gw.device.gatewayConfig.gatewayAuthMethod = current.gatewayConfig.gatewayAuthMethod;
    const method = gw.device.gatewayConfig.gatewayAuthMethod;
    const needs = attachNeeds(method);
    device = await env.store.getDevice(gw.device.registryKey, deviceId);
    const bound = device && needs.binding ? await env.store.isBound(gw.device.numId, device.numId) : false;
    let tokenCheck: TokenCheck = 'not-checked';
    let credentialKey: string | undefined;
    if (device && needs.token) {
      if (token === '') tokenCheck = 'absent';
      else {
        // The device's own JWT, checked exactly as a device CONNECT (spec §6.2).
        const outcome = await env.auth.authenticateDevice(registry, device, token, 'attach');
        tokenCheck = outcome.ok ? 'valid' : 'invalid';
        if (outcome.ok) credentialKey = outcome.credential.key;
      }
    }
    if (s.phase !== 'connected') return;
    const decision = decideAttach({
      method,
      deviceExists: device !== undefined,
      deviceBlocked: device?.blocked ?? false,
      deviceIsGateway: device?.gatewayConfig.gatewayType === 'GATEWAY',
      bound,
      token: tokenCheck,
      alreadyAttached: s.slots.has(deviceId),
      attachedCount: s.slots.size - 1,
      maxAttached: env.limits.maxAttachedPerGateway,
    });
    if (!decision.ok || !device) {
      const reason = decision.ok ? 'the device does not exist' : decision.reason;
      gatewayError(s, 'GATEWAY_ATTACHMENT_ERROR', deviceId, `Device "${deviceId}" could not be attached: ${reason}.`, p, device?.numId);
      return;
    }
    if (s.slots.has(deviceId)) {
      if (p.qos === 1) s.transport.send({ cmd: 'puback', messageId: p.messageId! });
      return;
    }
    const slot = s.makeSlot(device, registry, credentialKey);
    s.slots.set(device.id, slot);
    // Latest attach wins: another gateway or a direct connection holding the device lets go
    // (docs/compat.md C-GW-TAKEOVER).
    const previous = env.directory.claim(device.numId, s);
    if (previous) previous.end(device.numId, 'session-taken-over');
    s.recheckAfterClaim(device.numId);
    const now = env.clock.now();
    env.store.recordGatewayAccess(device.numId, gw.device.id, now).catch((err: unknown) => s.log.warn({ err }, 'could not record gateway access'));
    s.deviceLog(slot, 'INFO', 'ATTACH', { gatewayId: gw.device.id });
    if (p.qos === 1) s.transport.send({ cmd: 'puback', messageId: p.messageId! });
  } catch (err) {
    s.log.warn({ err }, 'attach failed');
    if (s.phase === 'connected') gatewayError(s, 'UNKNOWN', deviceId, `Device "${deviceId}" could not be attached: internal error.`, p, device?.numId);
  }
}

/** Ends an attachment: the device's subscriptions and pending deliveries go with it. */
export function detachSlot(s: MqttSession, slot: DeviceSlot): void {
  s.slots.delete(slot.device.id);
  s.env.directory.release(slot.device.numId, s);
  for (const [id, o] of s.outbound) {
    if (o.slot === slot) {
      s.outbound.delete(id);
      if (o.kind === 'command') o.resolve(true);
    }
  }
  s.deviceLog(slot, 'INFO', 'DETACH', { gatewayId: s.own?.device.id });
}

/** The bridge detached a device because of the device's own error (spec §6.3, §6.6). */
export function detachForError(s: MqttSession, slot: DeviceSlot, description: string): void {
  detachSlot(s, slot);
  gatewayError(s, 'GATEWAY_DETACHMENT_DEVICE_ERROR', slot.device.id, description, undefined, slot.device.numId);
}
