import type { IConnectPacket } from 'mqtt-packet';
import { registryName } from '../../../domain/model.js';
import type { AuthOutcome } from '../../../services/device-auth.js';
import type { MqttSession } from '../session.js';

/**
 * CONNECT as named steps (spec §5.2): protocol level, then authentication (reads of further
 * packets are held meanwhile), then the takeover of an older connection, CONNACK, and the held
 * packets in order.
 */
export function handleConnect(s: MqttSession, packet: IConnectPacket): void {
  // Step 1: MQTT 3.1.1 only; other levels get CONNACK 1 (docs/compat.md C-MQTT-LEVEL, spec U8).
  if (packet.protocolId !== 'MQTT' || packet.protocolVersion !== 4) {
    s.env.metrics.connect('refused');
    s.env.metrics.authFailure('unsupported-protocol');
    s.transport.send({ cmd: 'connack', returnCode: 1, sessionPresent: false });
    return s.close('unsupported-protocol');
  }
  s.transition('authenticating');
  // Will, retain and clean-session=0 are accepted and ignored (docs/compat.md C-MQTT-FLAGS).
  s.keepaliveMs = (packet.keepalive ?? 0) * 1000;
  const password = packet.password === undefined ? undefined : packet.password.toString('utf8');
  s.env.auth.authenticateClientId(packet.clientId, password, 'mqtt').then(
    (outcome) => s.contain('completing a CONNECT', () => authenticated(s, packet, outcome)),
    (err: unknown) => s.contain('refusing a CONNECT', () => {
      // Our own failure (store unavailable): the device may retry; CONNACK 3 = server unavailable.
      s.log.error({ err }, 'mqtt authentication error');
      if (s.phase !== 'authenticating') return;
      s.env.metrics.connect('refused');
      s.transport.send({ cmd: 'connack', returnCode: 3, sessionPresent: false });
      s.close('auth-failed');
    }),
  );
}

function authenticated(s: MqttSession, packet: IConnectPacket, outcome: AuthOutcome): void {
  if (s.phase !== 'authenticating') return;
  if (!outcome.ok) {
    s.env.metrics.connect('refused');
    s.env.metrics.authFailure(outcome.reason);
    s.log.info({ reason: outcome.reason, clientId: packet.clientId }, 'mqtt authentication failed');
    if (outcome.device) {
      s.env.activity.error(outcome.device.numId, s.env.clock.now(), { code: 16, message: `mqtt: SERVER: Authentication failed: ${outcome.message}` });
    }
    s.transport.send({ cmd: 'connack', returnCode: 5, sessionPresent: false });
    return s.close('auth-failed');
  }
  const { device, credential, expiresAtMs } = outcome;
  // One registry object shared by all its sessions (the authenticator reads through the cache).
  const registry = s.env.registries.peek(registryName(outcome.registry)) ?? outcome.registry;
  const slot = s.makeSlot(device, registry, credential.key);
  s.own = slot;
  s.slots.set(device.id, slot);
  s.jwtDeadline = expiresAtMs;
  s.identify(device.id, registry.registry);
  // One connection per device: the older one is closed (spec §5.2, observed ALREADY_EXISTS).
  const previous = s.env.directory.claim(device.numId, s);
  if (previous) previous.end(device.numId, 'session-taken-over');
  s.recheckAfterClaim(device.numId);
  s.transition('connected');
  s.env.metrics.connect('accepted');
  s.env.activity.heartbeat(device.numId, s.env.clock.now());
  s.transport.send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
  s.deviceLog(slot, 'INFO', 'CONNECT');
  // Held packets in order; an attach among them holds the rest until it is decided.
  s.drainPending();
}
