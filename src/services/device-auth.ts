import { createHash } from 'node:crypto';
import { ApiError } from '../domain/errors.js';
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
    /**
     * Why this node cannot serve a new device session now (cluster mode: NATS is down, so its
     * telemetry could not be stored and its session not announced to the other nodes), or
     * undefined. The device is refused as unavailable (MQTT CONNACK 3, HTTP 503) and retries,
     * rather than being let in to a session that cannot work (docs/compat.md C-CLUSTER-FAULTS).
     */
    private readonly unavailable: () => string | undefined = () => undefined,
  ) {
    this.registries = registries ?? { get: (key) => store.getRegistry(key) };
  }

  private checkAvailable(): void {
    const why = this.unavailable();
    if (why !== undefined) throw new ApiError('UNAVAILABLE', `Devices cannot be served now: ${why}; retry.`, { reason: 'MESSAGING_UNAVAILABLE' });
  }

  async authenticateClientId(clientId: string, token: string | undefined, protocol: 'mqtt' | 'http'): Promise<AuthOutcome> {
    const parsed = parseClientId(clientId);
    if (!parsed) return { ok: false, reason: 'bad-client-id', message: 'The client ID is not a device name.' };
    return this.authenticateRef(parsed.registryKey, parsed.device, token, protocol);
  }

  /**
   * A device named by registry and ID or numId (an HTTP bridge path, spec §7.1). The token is read
   * and its claims checked (its `aud` against the named project) before any lookup, and the
   * device's state only once the signature verified: until a caller proves it holds a device's
   * key, no answer depends on whether that device exists, is blocked or has the protocol off.
   */
  async authenticateRef(registryKey: RegistryKey, idOrNumId: string, token: string | undefined, protocol: 'mqtt' | 'http'): Promise<AuthOutcome> {
    this.checkAvailable();
    const checked = this.checkToken(token, registryKey.project);
    const registry = await this.registries.get(registryKey);
    const device = registry && (await this.store.getDevice(registryKey, idOrNumId));
    // A refused token still names the device it was for (MQTT records it as the device's lastErrorStatus).
    if (!checked.ok) return device ? { ...checked, device } : checked;
    if (!registry) return { ok: false, reason: 'unknown-registry', message: 'Unknown registry.' };
    if (!device) return { ok: false, reason: 'unknown-device', message: 'Unknown device.' };
    return this.verifyFor(registry, device, token!, checked, protocol);
  }

  /** Checks `token` as `device`'s credential, e.g. in a gateway's attach message. */
  async authenticateDevice(registry: Registry, device: Device, token: string | undefined, protocol: 'mqtt' | 'http' | 'attach'): Promise<AuthOutcome> {
    this.checkAvailable();
    const checked = this.checkToken(token, registry.project);
    if (!checked.ok) return { ...checked, device };
    return this.verifyFor(registry, device, token!, checked, protocol);
  }

  /** What can be known of a token without a device: present, parsed, an allowed alg, claims valid for `project`. */
  private checkToken(token: string | undefined, project: string): CheckedToken | Extract<AuthOutcome, { ok: false }> {
    if (!token) return { ok: false, reason: 'no-password', message: 'No JWT was presented.' };
    const decoded = this.verifier.decode(token);
    if (!decoded) return { ok: false, reason: 'malformed-jwt', message: 'The JWT could not be parsed.' };
    // alg "none", HS256 and everything else never reach a key (spec §4.1).
    if (!ALLOWED_ALGS.has(decoded.alg)) return { ok: false, reason: 'unsupported-alg', message: `JWT algorithm "${decoded.alg}" is not accepted; use RS256 or ES256.` };
    const nowMs = this.clock.now();
    const claims = checkClaims(decoded.payload, project, Math.floor(nowMs / 1000));
    if (!claims.ok) return { ok: false, reason: claims.reason, message: claims.message };
    return { ok: true, decoded, nowMs, expiresAtS: claims.expiresAtS };
  }

  private async verifyFor(registry: Registry, device: Device, token: string, checked: CheckedToken, protocol: 'mqtt' | 'http' | 'attach'): Promise<AuthOutcome> {
    const fail = (reason: AuthFailureReason, message: string): AuthOutcome => ({ ok: false, reason, message, device });
    // A digest, not the token: every connected device has an entry, and its JWT is hundreds of bytes.
    const cacheKey = createHash('sha256').update(device.numId).update('\n').update(token).digest('base64');
    const knownKey = this.verified.get(cacheKey);
    let credential: DeviceCredential | undefined;
    for (const c of device.credentials) {
      // An expired credential is skipped for new authentications (spec §1.4).
      if (c.expirationTime !== 0 && c.expirationTime <= checked.nowMs) continue;
      if (c.key === knownKey || (await this.verifier.verify(checked.decoded, c))) {
        credential = c;
        break;
      }
    }
    if (!credential) return fail('bad-signature', 'The JWT signature does not verify with any current credential of the device.');
    this.verified.set(cacheKey, credential.key);
    if (protocol === 'mqtt' && registry.mqttEnabledState === 'MQTT_DISABLED') return fail('mqtt-disabled', 'MQTT is disabled for this registry.');
    if (protocol === 'http' && registry.httpEnabledState === 'HTTP_DISABLED') return fail('http-disabled', 'HTTP is disabled for this registry.');
    if (device.blocked) return fail('blocked', 'The device is blocked.');
    return { ok: true, device, registry, credential, expiresAtMs: (checked.expiresAtS + JWT_SKEW_S) * 1000 };
  }
}

interface CheckedToken {
  ok: true;
  decoded: DecodedToken;
  nowMs: number;
  expiresAtS: number;
}
