import type { IConnectPacket } from 'mqtt-packet';
import { registryName } from '../../../domain/model.js';
import type { AuthOutcome } from '../../../services/device-auth.js';
import { newSlot } from '../device-slot.js';
import type { ConnectContext } from './context.js';

/**
 * CONNECT as named steps (spec §5.2): the protocol level, then authentication (further packets are
 * held meanwhile); once its outcome comes in, a refusal, or the takeover of an older connection,
 * CONNACK, and the held packets in order.
 */
export function handleConnect(s: ConnectContext, packet: IConnectPacket): void {
  if (!supportedLevel(s, packet)) return;
  startAuthentication(s, packet);
}

/** Step 1: MQTT 3.1.1 only; other levels get CONNACK 1 (docs/compat.md C-MQTT-LEVEL, spec U8). */
function supportedLevel(s: ConnectContext, packet: IConnectPacket): boolean {
  if (packet.protocolId === 'MQTT' && packet.protocolVersion === 4) return true;
  s.env.metrics.connect('refused');
  s.env.metrics.authFailure('unsupported-protocol');
  s.send({ cmd: 'connack', returnCode: 1, sessionPresent: false });
  s.close('unsupported-protocol');
  return false;
}

/** Step 2: the outcome comes back as `authenticationEnded` (or `authenticationFailed`). */
function startAuthentication(s: ConnectContext, packet: IConnectPacket): void {
  s.transition('authenticating');
  // Will, retain and clean-session=0 are accepted and ignored (docs/compat.md C-MQTT-FLAGS).
  s.keepaliveMs = (packet.keepalive ?? 0) * 1000;
  s.requestAuth(packet.clientId, packet.password === undefined ? undefined : packet.password.toString('utf8'));
}

/** Step 3: the authenticator's verdict. */
export function authenticationEnded(s: ConnectContext, clientId: string, outcome: AuthOutcome): void {
  if (s.phase !== 'authenticating') return;
  if (!outcome.ok) return refuse(s, outcome, clientId);
  accept(s, outcome);
}

/** Our own failure (store unavailable): the device may retry; CONNACK 3 = server unavailable. */
export function authenticationFailed(s: ConnectContext): void {
  if (s.phase !== 'authenticating') return;
  s.env.metrics.connect('refused');
  s.send({ cmd: 'connack', returnCode: 3, sessionPresent: false });
  s.close('auth-failed');
}

/** Spec §4.3: CONNACK 5; a known device's lastErrorStatus says why. */
function refuse(s: ConnectContext, outcome: Extract<AuthOutcome, { ok: false }>, clientId: string): void {
  s.env.metrics.connect('refused');
  s.env.metrics.authFailure(outcome.reason);
  s.log.info({ reason: outcome.reason, clientId }, 'mqtt authentication failed');
  if (outcome.device) {
    s.env.activity.error(outcome.device.numId, s.env.clock.now(), { code: 16, message: `mqtt: SERVER: Authentication failed: ${outcome.message}` });
  }
  s.send({ cmd: 'connack', returnCode: 5, sessionPresent: false });
  s.close('auth-failed');
}

/** Step 4: the device is served by this connection; an older one is closed, held packets follow. */
function accept(s: ConnectContext, outcome: Extract<AuthOutcome, { ok: true }>): void {
  const { device, credential, expiresAtMs } = outcome;
  // One registry object shared by all its sessions (the authenticator reads through the cache).
  const registry = s.env.registries.peek(registryName(outcome.registry)) ?? outcome.registry;
  const slot = newSlot(device, registry, credential.key);
  s.own = slot;
  s.slots.set(device.id, slot);
  s.jwtDeadline = expiresAtMs;
  s.identify();
  // One connection per device: the older one is closed (spec §5.2, observed ALREADY_EXISTS).
  s.claimDevice(device.numId);
  s.transition('connected');
  s.env.metrics.connect('accepted');
  s.env.metrics.sessionOpened(slot);
  s.env.activity.heartbeat(device.numId, s.env.clock.now());
  s.send({ cmd: 'connack', returnCode: 0, sessionPresent: false });
  s.deviceLog(slot, 'INFO', 'CONNECT');
  // Held packets in order; an attach among them holds the rest until it is decided.
  s.drainPending();
}
