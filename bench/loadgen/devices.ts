import { mintDeviceJwt } from '../../src/adapters/crypto/device-jwt.js';
import { generateKeyPair, type GeneratedKeyPair, type KeyAlg } from '../../src/adapters/crypto/key-pairs.js';
import type { DeviceLogin } from './connection.js';

export const BENCH_PROJECT = 'bench-project';
export const BENCH_LOCATION = 'us-central1';
export const BENCH_REGISTRY = 'bench';

export const deviceId = (index: number): string => `dev-${String(index).padStart(5, '0')}`;
export const clientIdOf = (id: string): string => `projects/${BENCH_PROJECT}/locations/${BENCH_LOCATION}/registries/${BENCH_REGISTRY}/devices/${id}`;

/**
 * The simulated fleet: one ES256 and one RS256 key pair shared by every device (each device is
 * registered with both public keys), and a distinct JWT per device and algorithm so no server
 * can shortcut verification by caching a token it has already seen.
 */
export class BenchFleet {
  private readonly tokens = new Map<KeyAlg, string[]>();

  private constructor(readonly keys: Readonly<Record<KeyAlg, GeneratedKeyPair>>) {}

  static async create(): Promise<BenchFleet> {
    const [es, rs] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('RS256')]);
    return new BenchFleet({ ES256: es, RS256: rs });
  }

  /** The login of a device with any id (a gateway, say), with a freshly minted JWT. */
  async loginFor(id: string, alg: KeyAlg): Promise<DeviceLogin> {
    const password = await mintDeviceJwt({ privateKeyPem: this.keys[alg].privateKeyPem, alg, audience: BENCH_PROJECT, issuedAt: Math.floor(Date.now() / 1000), expiresInSeconds: 7_200 });
    return { deviceId: id, clientId: clientIdOf(id), username: 'unused', password };
  }

  /**
   * Logins for devices 1..count with tokens no other call returns (iat moved back `round` minutes):
   * servers cache verified tokens, and a warm-up or a repeated storm must not fill that cache
   * with the tokens a measured storm then presents.
   */
  async freshLogins(alg: KeyAlg, count: number, round: number): Promise<DeviceLogin[]> {
    const iat = Math.floor(Date.now() / 1000) - 60 * round;
    const logins: DeviceLogin[] = [];
    for (let i = 1; i <= count; i++) {
      const id = deviceId(i);
      const password = await mintDeviceJwt({ privateKeyPem: this.keys[alg].privateKeyPem, alg, audience: BENCH_PROJECT, issuedAt: iat, expiresInSeconds: 7_200 + i });
      logins.push({ deviceId: id, clientId: clientIdOf(id), username: 'unused', password });
    }
    return logins;
  }

  /** Logins for devices 1..count, minting (and caching) the JWTs on first use. */
  async logins(alg: KeyAlg, count: number, first = 1): Promise<DeviceLogin[]> {
    const have = this.tokens.get(alg) ?? [];
    const iat = Math.floor(Date.now() / 1000);
    for (let i = have.length; i < first - 1 + count; i += 1) {
      // Lifetimes differ by a second per device: distinct tokens, all well inside the 24 h cap.
      have.push(await mintDeviceJwt({ privateKeyPem: this.keys[alg].privateKeyPem, alg, audience: BENCH_PROJECT, issuedAt: iat, expiresInSeconds: 7_200 + i }));
    }
    this.tokens.set(alg, have);
    return Array.from({ length: count }, (_, k) => {
      const id = deviceId(first + k);
      return { deviceId: id, clientId: clientIdOf(id), username: 'unused', password: have[first - 1 + k] ?? '' };
    });
  }
}
