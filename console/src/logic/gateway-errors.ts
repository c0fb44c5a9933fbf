/** One errors-topic message as `GET …:gatewayErrors` answers it (docs/compat.md C-CONSOLE-GATEWAY-ERRORS). */
export interface GatewayError {
  time: string;
  deviceId: string;
  errorType: string;
  description: string;
  mqttMessageInfo?: { messageType?: string; topic?: string; packetId?: number };
  delivered: boolean;
}

/**
 * For errors listed newest first, whether each is its device's newest: only those carry a per-device
 * test ID, so that an ID names one element however many errors a device has.
 */
export function newestOfEachDevice(errors: readonly GatewayError[]): boolean[] {
  const seen = new Set<string>();
  return errors.map((e) => {
    if (seen.has(e.deviceId)) return false;
    seen.add(e.deviceId);
    return true;
  });
}

/** The packet that caused an error, in words: `PUBLISH /devices/d/events (packet ID 3)`; undefined when none did. */
export function packetInWords(info: GatewayError['mqttMessageInfo']): string | undefined {
  if (!info?.messageType) return undefined;
  // QoS 0 packets carry no identifier: the server reports 0, which says nothing.
  const id = info.packetId ? ` (packet ID ${info.packetId})` : '';
  return `${info.messageType}${info.topic ? ` ${info.topic}` : ''}${id}`;
}
