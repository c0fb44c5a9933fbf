import type { IPubackPacket } from 'mqtt-packet';
import type { PubackContext } from './context.js';

/** A device acknowledges a config or command delivery (spec §5.5, §5.6). */
export function handlePuback(s: PubackContext, packet: IPubackPacket): void {
  const id = packet.messageId ?? 0;
  const o = s.outbound.get(id);
  if (!o) return s.unexpectedPacketId(packet);
  s.outbound.delete(id);
  if (o.kind === 'command') return o.resolve(true);
  // A late ack of a replaced config: expected, nothing to record.
  if (o.kind === 'superseded') return;
  const slot = o.slot;
  if (slot.pendingConfig?.messageId === id) slot.pendingConfig = undefined;
  s.recordConfigAck(slot.device.numId, o.version, s.env.clock.now());
}
