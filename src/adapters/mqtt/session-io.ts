import { attachNeeds, type TokenCheck } from '../../domain/gateway-attach.js';
import type { Registry, RegistryKey } from '../../domain/model.js';
import type { DeviceAuthenticator } from '../../services/device-auth.js';
import type { DeviceIngress, StoredTarget } from '../../services/device-ingress.js';
import type { Store } from '../../services/ports.js';
import type { AttachLookup, AttachRequest, IoRequestKind, SessionInputs, SessionPorts } from './session-types.js';

/** The services the shell performs the sessions' requests with. */
export interface SessionIoServices {
  auth: DeviceAuthenticator;
  ingress: DeviceIngress;
  store: Store;
}

/**
 * The I/O shell around the pure sessions: carries out what they request and feeds each answer
 * back as an input. Every promise of the MQTT bridge's sessions lives here, and every rejection
 * ends here as an `ioFailed` input; one object serves all connections of a bridge.
 */
export class SessionIo implements SessionPorts {
  constructor(private readonly services: SessionIoServices) {}

  requestAuth(target: SessionInputs, clientId: string, password: string | undefined): void {
    this.services.auth.authenticateClientId(clientId, password, 'mqtt').then(
      (outcome) => answer(target, () => target.authenticated(clientId, outcome)),
      (err: unknown) => failed(target, 'auth', clientId, err),
    );
  }

  requestConfig(target: SessionInputs, numId: string): void {
    this.services.store.getDeviceByNumId(numId).then(
      (device) => answer(target, () => target.configLoaded(numId, device?.config)),
      (err: unknown) => failed(target, 'config', numId, err),
    );
  }

  requestRecheck(target: SessionInputs, numId: string): void {
    this.services.store.getDeviceByNumId(numId).then(
      (device) => answer(target, () => target.rechecked(numId, device)),
      (err: unknown) => failed(target, 'recheck', numId, err),
    );
  }

  requestAttachLookup(target: SessionInputs, request: AttachRequest): void {
    lookUpAttach(this.services, request).then(
      (lookup) => answer(target, () => target.attachLookedUp(lookup)),
      (err: unknown) => failed(target, 'attach', request.deviceId, err),
    );
  }

  requestErrorDevice(target: SessionInputs, registryKey: RegistryKey, deviceId: string): void {
    this.services.store.getDevice(registryKey, deviceId).then(
      (device) => answer(target, () => target.errorDeviceFound(deviceId, device?.numId)),
      (err: unknown) => failed(target, 'error-device', deviceId, err),
    );
  }

  submitEvent(numId: string, topic: string, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, target: StoredTarget, token: number): void {
    this.services.ingress.submitEvent(numId, topic, attributes, data, at, target, token);
  }

  submitState(numId: string, registry: Registry, attributes: Readonly<Record<string, string>>, data: Uint8Array, at: number, target: StoredTarget, token: number): void {
    // `stored` guards itself (a bug there closes its session), so neither callback can throw.
    this.services.ingress.state(numId, registry, attributes, data, at).then(
      () => target.stored([token], 0, 1, undefined),
      (err: unknown) => target.stored([token], 0, 1, err ?? new Error('state not stored')),
    );
  }

  recordConfigAck(target: SessionInputs, numId: string, version: number, at: number): void {
    this.services.store.ackConfig(numId, version, at).catch((err: unknown) => failed(target, 'config-ack', numId, err));
  }

  recordGatewayAccess(target: SessionInputs, numId: string, gatewayId: string, at: number): void {
    this.services.store.recordGatewayAccess(numId, gatewayId, at).catch((err: unknown) => failed(target, 'gateway-access', numId, err));
  }

  holdIfSaturated(resume: () => void): boolean {
    return this.services.ingress.holdIfSaturated(resume);
  }

  forget(resume: () => void): void {
    this.services.ingress.forget(resume);
  }
}

/**
 * The facts of an attach decision (spec §6.2), read only as far as the gateway's auth method needs
 * them: a binding is read, or a device JWT verified, only when the method asks for it.
 */
export async function lookUpAttach(services: Pick<SessionIoServices, 'auth' | 'store'>, request: AttachRequest): Promise<AttachLookup> {
  const { auth, store } = services;
  const gateway = await store.getDeviceByNumId(request.gatewayNumId);
  const method = gateway?.gatewayConfig.gatewayAuthMethod ?? request.knownMethod;
  const needs = attachNeeds(method);
  const device = await store.getDevice(request.registry, request.deviceId);
  const bound = device !== undefined && needs.binding ? await store.isBound(request.gatewayNumId, device.numId) : false;
  let token: TokenCheck = 'not-checked';
  let credentialKey: string | undefined;
  if (device !== undefined && needs.token) {
    if (request.token === '') token = 'absent';
    else {
      // The device's own JWT, checked exactly as a device CONNECT.
      const outcome = await auth.authenticateDevice(request.registry, device, request.token, 'attach');
      token = outcome.ok ? 'valid' : 'invalid';
      if (outcome.ok) credentialKey = outcome.credential.key;
    }
  }
  return { method, device, bound, token, credentialKey };
}

/** Feeds an answer; a bug the session hits while handling it ends that session, not the process. */
export function answer(target: SessionInputs, feed: () => void): void {
  try {
    feed();
  } catch (err) {
    target.answerCrashed(err);
  }
}

function failed(target: SessionInputs, kind: IoRequestKind, key: string, error: unknown): void {
  answer(target, () => target.ioFailed(kind, key, error));
}
