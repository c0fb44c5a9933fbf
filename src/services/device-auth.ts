import { parseClientId } from '../domain/client-id.js';
import { checkClaims, JWT_SKEW_S } from '../domain/jwt-claims.js';
import { LruCache } from '../domain/lru-cache.js';
import type { Device, DeviceCredential, Registry, RegistryKey } from '../domain/model.js';
import type { Clock, Store } from './ports.js';

/** A JWT split and parsed, before its signature is checked. */
export interface DecodedToken {
  alg: string;
  payload: unknown;
}

export interface TokenVerifier {
  /** Undefined when the text is not a JWT at all. */
  decode(token: string): DecodedToken | undefined;
  /** True when the signature verifies with this credential's key (and the alg fits the key). */
  verify(token: DecodedToken, credential: DeviceCredential): Promise<boolean>;
}

export type AuthFailureReason =
  | 'bad-client-id'
  | 'unknown-registry'
  | 'unknown-device'
  | 'mqtt-disabled'
  | 'http-disabled'
  | 'blocked'
  | 'no-password'
  | 'malformed-jwt'
  | 'unsupported-alg'
  | 'malformed-claims'
  | 'wrong-audience'
  | 'issued-in-future'
  | 'expired'
  | 'lifetime-too-long'
  | 'bad-signature';

export type AuthOutcome =
  | { ok: true; device: Device; registry: Registry; credential: DeviceCredential; expiresAtMs: number }
  | { ok: false; reason: AuthFailureReason; message: string; device?: Device };

const ALLOWED_ALGS = new Set(['RS256', 'ES256']);

/**
 * Device authentication (spec §4.2): the same checks for an MQTT CONNECT, an HTTP bridge request
 * and a gateway's attach token.
 */
/** Where registries are read from: the store, or a cache in front of it. */
export interface RegistryLookup {
  get(key: RegistryKey): Promise<Registry | undefined>;
}

/**
 * Tokens whose signature verified, with the credential key that verified them. Devices send the
 * same JWT for its whole lifetime (every HTTP request, every MQTT reconnect): the signature check
 * was most of a request's CPU, and its answer for the same bytes and key cannot change. Claims,
 * the device's state and its current credentials are still checked every time.
 */
const VERIFIED_TOKENS = 10_000;

export class DeviceAuthenticator {
  private readonly registries: RegistryLookup;
  private readonly verified = new LruCache<string>(VERIFIED_TOKENS);

  constructor(
    private readonly store: Store,
    private readonly verifier: TokenVerifier,
    private readonly clock: Clock,
    registries?: RegistryLookup,
  ) {
    this.registries = registries ?? { get: (key) => store.getRegistry(key) };
  }

  async authenticateClientId(clientId: string, token: string | undefined, protocol: 'mqtt' | 'http'): Promise<AuthOutcome> {
    const parsed = parseClientId(clientId);
    if (!parsed) return { ok: false, reason: 'bad-client-id', message: 'The client ID is not a device name.' };
    return this.authenticateRef(parsed.registryKey, parsed.device, token, protocol);
  }

  /** A device named by registry and ID or numId (an HTTP bridge path, spec §7.1). */
  async authenticateRef(registryKey: RegistryKey, idOrNumId: string, token: string | undefined, protocol: 'mqtt' | 'http'): Promise<AuthOutcome> {
    const registry = await this.registries.get(registryKey);
    if (!registry) return { ok: false, reason: 'unknown-registry', message: 'Unknown registry.' };
    const device = await this.store.getDevice(registryKey, idOrNumId);
    if (!device) return { ok: false, reason: 'unknown-device', message: 'Unknown device.' };
    return this.authenticateDevice(registry, device, token, protocol);
  }

  /** Checks `token` as `device`'s credential, e.g. in a gateway's attach message. */
  async authenticateDevice(registry: Registry, device: Device, token: string | undefined, protocol: 'mqtt' | 'http' | 'attach'): Promise<AuthOutcome> {
    const fail = (reason: AuthFailureReason, message: string): AuthOutcome => ({ ok: false, reason, message, device });
    if (protocol === 'mqtt' && registry.mqttEnabledState === 'MQTT_DISABLED') return fail('mqtt-disabled', 'MQTT is disabled for this registry.');
    if (protocol === 'http' && registry.httpEnabledState === 'HTTP_DISABLED') return fail('http-disabled', 'HTTP is disabled for this registry.');
    if (device.blocked) return fail('blocked', 'The device is blocked.');
    if (!token) return fail('no-password', 'No JWT was presented.');
    const decoded = this.verifier.decode(token);
    if (!decoded) return fail('malformed-jwt', 'The JWT could not be parsed.');
    // alg "none", HS256 and everything else never reach a key (spec §4.1).
    if (!ALLOWED_ALGS.has(decoded.alg)) return fail('unsupported-alg', `JWT algorithm "${decoded.alg}" is not accepted; use RS256 or ES256.`);
    const nowMs = this.clock.now();
    const claims = checkClaims(decoded.payload, registry.project, Math.floor(nowMs / 1000));
    if (!claims.ok) return fail(claims.reason, claims.message);
    const cacheKey = `${device.numId}\n${token}`;
    const knownKey = this.verified.get(cacheKey);
    for (const credential of device.credentials) {
      // An expired credential is skipped for new authentications (spec §1.4).
      if (credential.expirationTime !== 0 && credential.expirationTime <= nowMs) continue;
      if (credential.key === knownKey || (await this.verifier.verify(decoded, credential))) {
        this.verified.set(cacheKey, credential.key);
        return { ok: true, device, registry, credential, expiresAtMs: (claims.expiresAtS + JWT_SKEW_S) * 1000 };
      }
    }
    return fail('bad-signature', 'The JWT signature does not verify with any current credential of the device.');
  }
}
