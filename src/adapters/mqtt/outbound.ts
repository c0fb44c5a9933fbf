import { ApiError } from '../../domain/errors.js';
import type { DeviceConfig } from '../../domain/model.js';
import { commandTopic, configTopic, topicMatches } from '../../domain/mqtt-topics.js';
import type { OutboundContext } from './handlers/context.js';
import type { DeviceSlot, QoS01 } from './session-types.js';

/**
 * Cloud-to-device deliveries: config versions (spec §5.5) and commands (spec §5.6).
 */

/**
 * A newer config version was stored: asks for it; `configLoaded` sends it if it is newer than what
 * this connection last sent. An update always reads afresh (a read under way may predate it).
 */
export function deliverLatestConfig(s: OutboundContext, slot: DeviceSlot): void {
  s.requestConfig(slot.device.numId);
}

/**
 * A config SUBSCRIBE was answered: the latest config goes to it once read. SUBSCRIBEs that arrive
 * while a read for an earlier one is under way share it: a burst of them then costs one copy of a
 * config of up to 64 KiB, not one per SUBSCRIBE. (The read began before the SUBSCRIBE arrived; a
 * version written since then is delivered by its own update.)
 */
export function deliverSubscribedConfig(s: OutboundContext, slot: DeviceSlot): void {
  slot.subscribeDeliveries++;
  if (slot.subscribeReadPending) return;
  slot.subscribeReadPending = true;
  s.requestConfig(slot.device.numId);
}

/**
 * The config read for a delivery: one copy for each SUBSCRIBE waiting for it, or else one if it
 * is newer than what was sent. A newer delivery supersedes an unacknowledged one.
 */
export function configLoaded(s: OutboundContext, slot: DeviceSlot, config: DeviceConfig): void {
  slot.subscribeReadPending = false;
  const copies = slot.subscribeDeliveries;
  slot.subscribeDeliveries = 0;
  if (s.phase !== 'connected' || slot.configQos === undefined) return;
  if (copies === 0 && config.version <= slot.sentConfigVersion) return;
  const payload = Buffer.from(config.binaryData.buffer, config.binaryData.byteOffset, config.binaryData.byteLength);
  // Each delivery may close the connection (too many unacknowledged, a peer that does not read).
  for (let i = 0; i < Math.max(1, copies) && s.phase === 'connected' && slot.configQos !== undefined; i++) sendConfig(s, slot, config.version, payload);
}

function sendConfig(s: OutboundContext, slot: DeviceSlot, version: number, payload: Buffer): void {
  const qos = slot.configQos;
  if (slot.pendingConfig) supersede(s, slot, slot.pendingConfig.messageId);
  slot.pendingConfig = undefined;
  slot.sentConfigVersion = version;
  const now = s.env.clock.now();
  if (qos === 1) {
    // Replaced deliveries keep their packet IDs, so a device that never acknowledges fills the
    // window: it is closed, and gets the latest config when it subscribes again (docs/compat.md
    // C-MQTT-UNACKED).
    if (windowFull(s)) return s.close('too-many-unacked-messages');
    const messageId = s.allocateMessageId();
    slot.pendingConfig = { messageId, version, sentAt: now, payload };
    s.outbound.set(messageId, { kind: 'config', slot, version });
    s.send({ cmd: 'publish', topic: configTopic(slot.device.id), payload, qos: 1, messageId, retain: false, dup: false });
  } else {
    s.send({ cmd: 'publish', topic: configTopic(slot.device.id), payload, qos: 0, retain: false, dup: false });
  }
  s.env.activity.configSent(slot.device.numId, now);
  s.env.metrics.messageOut('config');
}

/** Every QoS 1 delivery takes a packet ID until its PUBACK: the bound keeps IDs from running out. */
const windowFull = (s: OutboundContext): boolean => s.outbound.size >= s.env.limits.maxUnackedOutbound;

/**
 * The device may still acknowledge a delivery the bridge no longer waits for (a replaced config, a
 * command whose caller stopped waiting): its packet ID stays reserved (so a late PUBACK is neither
 * an error, GATEWAY_UNEXPECTED_PACKET_ID on a gateway, nor taken for a newer message) until then
 * or a deadline.
 */
export function supersede(s: OutboundContext, slot: DeviceSlot, messageId: number): void {
  s.outbound.set(messageId, { kind: 'superseded', slot, deadline: s.env.clock.now() + 3 * s.env.limits.configRedeliveryMs });
}

/** QoS 1 configs are redelivered until acknowledged (docs/compat.md C-CONFIG-REDELIVERY). */
export function redeliverConfigs(s: OutboundContext, now: number): void {
  for (const slot of s.slots.values()) {
    const pc = slot.pendingConfig;
    if (!pc || now - pc.sentAt < s.env.limits.configRedeliveryMs) continue;
    pc.sentAt = now;
    s.send({ cmd: 'publish', topic: configTopic(slot.device.id), payload: pc.payload, qos: 1, messageId: pc.messageId, retain: false, dup: true });
    s.env.activity.configSent(slot.device.numId, now);
    s.env.metrics.messageOut('config');
  }
}

/**
 * Delivers a command when a commands filter of the device matches its topic. QoS 1 resolves on
 * the PUBACK, or after `commandAckTimeoutMs` anyway (docs/compat.md C-CMD-ACK).
 */
export function deliverCommand(s: OutboundContext, slot: DeviceSlot, subfolder: string, data: Uint8Array): Promise<boolean> {
  const topic = commandTopic(slot.device.id, subfolder);
  let qos: QoS01 | undefined;
  for (const [filter, q] of slot.commandFilters ?? []) {
    if (topicMatches(filter, topic)) qos = qos === 1 ? 1 : q;
  }
  if (qos === undefined) return Promise.resolve(false);
  const payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (qos === 0) {
    s.send({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false });
    s.env.metrics.messageOut('command');
    return Promise.resolve(true);
  }
  // The device is not keeping up: the API caller is told to retry, the connection stays
  // (docs/compat.md C-MQTT-UNACKED).
  if (windowFull(s)) return Promise.reject(new ApiError('RESOURCE_EXHAUSTED', `Device "${slot.device.id}" has too many unacknowledged messages; retry later.`));
  return new Promise<boolean>((resolve) => {
    const messageId = s.allocateMessageId();
    s.outbound.set(messageId, { kind: 'command', slot, resolve, deadline: s.env.clock.now() + s.env.limits.commandAckTimeoutMs });
    s.send({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false });
    s.env.metrics.messageOut('command');
  });
}
