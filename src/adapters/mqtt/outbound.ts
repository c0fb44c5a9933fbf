import type { DeviceConfig } from '../../domain/model.js';
import { commandTopic, configTopic, topicMatches } from '../../domain/mqtt-topics.js';
import type { OutboundContext } from './handlers/context.js';
import type { DeviceSlot, QoS01 } from './session-types.js';

/**
 * Cloud-to-device deliveries: config versions (spec §5.5) and commands (spec §5.6).
 */

/**
 * Asks for the device's latest config; `configLoaded` sends it if it is newer than what this
 * connection last sent (or anyway, right after a SUBSCRIBE: `slot.resendConfig`).
 */
export function deliverLatestConfig(s: OutboundContext, slot: DeviceSlot): void {
  s.requestConfig(slot.device.numId);
}

/** The config read for a delivery; a newer version supersedes an unacknowledged one. */
export function configLoaded(s: OutboundContext, slot: DeviceSlot, config: DeviceConfig): void {
  if (s.phase !== 'connected' || slot.configQos === undefined) return;
  if (!slot.resendConfig && config.version <= slot.sentConfigVersion) return;
  slot.resendConfig = false;
  const payload = Buffer.from(config.binaryData.buffer, config.binaryData.byteOffset, config.binaryData.byteLength);
  if (slot.pendingConfig) supersede(s, slot, slot.pendingConfig.messageId);
  slot.pendingConfig = undefined;
  slot.sentConfigVersion = config.version;
  const qos = slot.configQos;
  const now = s.env.clock.now();
  if (qos === 1) {
    const messageId = s.allocateMessageId();
    slot.pendingConfig = { messageId, version: config.version, sentAt: now, payload };
    s.outbound.set(messageId, { kind: 'config', slot, version: config.version });
    s.send({ cmd: 'publish', topic: configTopic(slot.device.id), payload, qos: 1, messageId, retain: false, dup: false });
  } else {
    s.send({ cmd: 'publish', topic: configTopic(slot.device.id), payload, qos: 0, retain: false, dup: false });
  }
  s.env.activity.configSent(slot.device.numId, now);
}

/**
 * The device may still acknowledge a replaced config delivery: its packet ID stays reserved (so a
 * late PUBACK is neither an error nor taken for a newer message) until then or a deadline.
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
  }
}

/**
 * Delivers a command when a commands filter of the device matches its topic. QoS 1 resolves on
 * the PUBACK, or after `commandAckTimeoutMs` anyway (docs/compat.md C-CMD-ACK).
 */
export function deliverCommand(s: OutboundContext, slot: DeviceSlot, subfolder: string, data: Uint8Array): Promise<boolean> {
  const topic = commandTopic(slot.device.id, subfolder);
  let qos: QoS01 | undefined;
  for (const [filter, q] of slot.commandFilters) {
    if (topicMatches(filter, topic)) qos = qos === 1 ? 1 : q;
  }
  if (qos === undefined) return Promise.resolve(false);
  const payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (qos === 0) {
    s.send({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false });
    return Promise.resolve(true);
  }
  return new Promise<boolean>((resolve) => {
    const messageId = s.allocateMessageId();
    s.outbound.set(messageId, { kind: 'command', slot, resolve, deadline: s.env.clock.now() + s.env.limits.commandAckTimeoutMs });
    s.send({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false });
  });
}
