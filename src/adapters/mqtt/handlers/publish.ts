import type { IPublishPacket } from 'mqtt-packet';
import { selectEventTopic } from '../../../domain/event-routing.js';
import { attributesOf, debugLogging } from '../device-slot.js';
import { isPacketId } from '../packet-id.js';
import type { DeviceSlot } from '../session-types.js';
import type { PublishContext } from './context.js';

/**
 * Device-to-cloud PUBLISH (spec §5.3, §5.4, §5.7). A QoS 1 message is acknowledged only once the
 * ingress has stored it durably; until then it counts against the connection's in-flight window.
 */
export function handlePublish(s: PublishContext, p: IPublishPacket): void {
  const now = s.lastPacketAt;
  const topic = s.parseTopic(p.topic);
  // Control messages do not count: a gateway re-attaching its devices after a reconnect sends
  // them in a burst, and each gets its own answer (docs/compat.md C-MQTT-RATE).
  if (topic?.kind !== 'attach' && topic?.kind !== 'detach' && !s.withinRate()) return;
  // Spec §5.3: QoS 2 closes the connection.
  if (p.qos === 2) return s.close('qos2-publish');
  // [MQTT-2.3.1-1] a QoS 1 PUBLISH needs a packet identifier from 1 to 65,535 (0 would never be
  // acknowledged; anything else cannot be).
  if (p.qos === 1 && !isPacketId(p.messageId)) return s.close('protocol-error');
  if (!topic) return s.invalidPublishTopic(p);
  const slot = s.slots.get(topic.device);
  // An attach names a device not attached yet: counted under the connection's own device.
  const counted = slot ?? (topic.kind === 'attach' || topic.kind === 'detach' ? s.own : undefined);
  if (counted) s.env.metrics.messageIn(topic.kind, p.qos, counted);
  if (!slot) return s.publishForUnknownDevice(p, topic.device, topic.kind);
  switch (topic.kind) {
    case 'events':
      return publishEvent(s, slot, p, topic.subfolder, now);
    case 'state':
      return publishState(s, slot, p, now);
    case 'attach':
    case 'detach':
      return s.controlMessage(p, topic.kind, topic.device);
  }
}

function publishEvent(s: PublishContext, slot: DeviceSlot, p: IPublishPacket, subfolder: string, now: number): void {
  const payload = p.payload as Buffer;
  if (payload.length > s.env.limits.maxTelemetryBytes) return s.deviceViolation(slot, 'payload-too-large');
  const registry = s.registryOf(slot);
  const sinkTopic = selectEventTopic(registry.eventNotificationConfigs, subfolder);
  // Spec §5.4, §8.2: no route for telemetry closes the connection (state is unaffected).
  if (sinkTopic === undefined) return s.deviceViolation(slot, 'no-event-route');
  const attributes = attributesOf(slot, subfolder);
  if (debugLogging(slot, registry)) s.deviceLog(slot, 'DEBUG', 'PUBLISH', { topic: p.topic, qos: p.qos });
  s.beginIngest();
  s.submitEvent(slot.device.numId, sinkTopic, attributes, payload, now, p.qos === 1 ? p.messageId! : 0);
}

function publishState(s: PublishContext, slot: DeviceSlot, p: IPublishPacket, now: number): void {
  const payload = p.payload as Buffer;
  if (payload.length > s.env.limits.maxStateBytes) return s.deviceViolation(slot, 'payload-too-large');
  // Spec §5.7: more than one state per second per device is a violation.
  if (now - slot.lastStateAt < s.env.limits.stateMinIntervalMs) return s.deviceViolation(slot, 'state-rate-exceeded');
  slot.lastStateAt = now;
  const registry = s.registryOf(slot);
  if (debugLogging(slot, registry)) s.deviceLog(slot, 'DEBUG', 'PUBLISH', { topic: p.topic, qos: p.qos });
  s.beginIngest();
  s.submitState(slot.device.numId, registry, attributesOf(slot, ''), payload, now, p.qos === 1 ? p.messageId! : 0);
}

