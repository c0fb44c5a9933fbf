import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import { parseSubscribeFilter } from '../../../domain/mqtt-topics.js';
import { deliverSubscribedConfig, supersede } from '../outbound.js';
import { isPacketId } from '../packet-id.js';
import type { DeviceSlot, QoS01 } from '../session-types.js';
import type { SubscribeContext } from './context.js';

/**
 * SUBSCRIBE (spec §5.3, §5.5): config and commands of a device the connection serves, and a
 * gateway's errors topic. QoS 2 is granted 1; any other filter gets 0x80 and the connection stays.
 */
export function handleSubscribe(s: SubscribeContext, p: ISubscribePacket): void {
  if (!s.withinRate()) return;
  // [MQTT-3.8.3-3] at least one filter; [MQTT-3-8.3-4] a requested QoS other than 0, 1, 2 is
  // malformed. Both close the connection (there is no SUBACK that could answer them).
  if (p.subscriptions.length === 0 || p.subscriptions.some((sub) => !(sub.qos >= 0 && sub.qos <= 2))) return s.close('protocol-error');
  // [MQTT-2.3.1-1]: without a valid packet identifier there is no SUBACK to send.
  if (!isPacketId(p.messageId)) return s.close('protocol-error');
  const granted: number[] = [];
  const configSlots: DeviceSlot[] = [];
  for (const sub of p.subscriptions) {
    const qos: QoS01 = sub.qos >= 1 ? 1 : 0;
    const f = parseSubscribeFilter(sub.topic);
    const slot = f ? s.slots.get(f.device) : undefined;
    if (!f || !slot) {
      granted.push(f ? s.subscribeForUnknownDevice(p, f.device, sub.topic) : 0x80);
      continue;
    }
    if (f.kind === 'config') {
      slot.configQos = qos;
      // One delivery per device and SUBSCRIBE, however often the packet repeats the filter.
      if (!configSlots.includes(slot)) configSlots.push(slot);
    } else if (f.kind === 'commands') {
      (slot.commandFilters ??= new Map()).set(f.filter, qos);
    } else {
      // errors: only a gateway's own errors topic carries anything (docs/compat.md C-ERRORS-SUB).
      s.subscribeErrors(slot, qos);
    }
    s.deviceLog(slot, 'DEBUG', 'SUBSCRIBE', { topic: sub.topic, qos });
    granted.push(f.kind === 'errors' ? 0 : qos);
  }
  s.send({ cmd: 'suback', messageId: p.messageId, granted });
  // The latest config goes out right after the SUBACK, even the empty version 1 (spec §5.5).
  for (const slot of configSlots) deliverSubscribedConfig(s, slot);
}

export function handleUnsubscribe(s: SubscribeContext, p: IUnsubscribePacket): void {
  if (!s.withinRate()) return;
  // [MQTT-3.10.3-2] at least one filter; [MQTT-2.3.1-1] a valid packet identifier.
  if (p.unsubscriptions.length === 0 || !isPacketId(p.messageId)) return s.close('protocol-error');
  for (const topic of p.unsubscriptions) {
    const f = parseSubscribeFilter(topic);
    const slot = f ? s.slots.get(f.device) : undefined;
    if (!f || !slot) continue;
    if (f.kind === 'config') {
      slot.configQos = undefined;
      if (slot.pendingConfig) supersede(s, slot, slot.pendingConfig.messageId);
      slot.pendingConfig = undefined;
    } else if (f.kind === 'commands') {
      slot.commandFilters?.delete(f.filter);
    } else {
      s.subscribeErrors(slot, undefined);
    }
  }
  s.send({ cmd: 'unsuback', messageId: p.messageId, granted: [] });
}
