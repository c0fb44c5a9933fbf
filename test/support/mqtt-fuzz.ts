import assert from 'node:assert/strict';
import { mintDeviceJwt } from '../../src/adapters/crypto/device-jwt.js';
import { createDevice, PROJECT, REGION } from './fleet.js';
import { Prng } from './mqtt-fuzz-inputs.js';
import { addStats, newStats, runLane, type FuzzStats, type LaneIdentities, type LaneOptions } from './mqtt-fuzz-lane.js';
import { makeDeviceKeys } from './pki.js';
import { api, type StartedServer } from './server.js';

/**
 * A fuzz run against a started server: per lane its own ASSOCIATION_ONLY gateway with two bound
 * devices and its own direct device (lanes never take each other's sessions over), and seeded
 * lanes running in parallel until a number of inputs or a deadline.
 */

/**
 * Creates the lanes' gateways and devices in `registry` (which must exist) and mints their JWTs.
 * RS256 is the cheapest JWT to verify (many reconnects cost the server little); ES256 the
 * shortest (fewer bytes to split a CONNECT at).
 */
export async function createFuzzFleet(server: StartedServer, registry: string, lanes: number, alg: 'RS256' | 'ES256' = 'RS256'): Promise<LaneIdentities[]> {
  const keys = await makeDeviceKeys(alg);
  const jwt = (): Promise<string> => mintDeviceJwt({ privateKeyPem: keys.privateKeyPem, alg, audience: PROJECT, expiresInSeconds: 6 * 3600 });
  const base = `/v1/projects/${PROJECT}/locations/${REGION}/registries/${registry}`;
  const out: LaneIdentities[] = [];
  for (let i = 0; i < lanes; i++) {
    const gw = await createDevice(server, registry, `fz-gw-${i}`, { keys, body: { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
    const attachable: string[] = [];
    for (const suffix of ['a', 'b']) {
      const d = await createDevice(server, registry, `fz-dev-${i}-${suffix}`, { keys });
      const bound = await api(server, 'POST', `${base}:bindDeviceToGateway`, { gatewayId: gw.id, deviceId: d.id });
      assert.equal(bound.status, 200, JSON.stringify(bound.json));
      attachable.push(d.id);
    }
    const direct = await createDevice(server, registry, `fz-direct-${i}`, { keys });
    out.push({
      gateway: { id: gw.id, clientId: gw.clientId, jwt: await jwt(), attachable },
      device: { id: direct.id, clientId: direct.clientId, jwt: await jwt(), attachable: [] },
    });
  }
  return out;
}

export interface FuzzRun {
  seed: number;
  /** Stop once this many inputs were sent (checked between batches). */
  inputs: number;
  /** ...or at this time (ms since the epoch). */
  deadline: number;
  options: LaneOptions;
}

/** Runs every lane (lane i seeded with seed + i) against the plain listener; resolves with the totals. */
export async function runFuzz(url: string, lanes: readonly LaneIdentities[], run: FuzzRun): Promise<FuzzStats> {
  const perLane = lanes.map(() => newStats());
  const total = (): number => perLane.reduce((n, s) => n + s.inputs, 0);
  const done = (): boolean => total() >= run.inputs || Date.now() >= run.deadline;
  await Promise.all(lanes.map((ids, i) => runLane(url, ids, new Prng(run.seed + i), run.options, perLane[i]!, done, `seed ${run.seed + i}`)));
  const stats = newStats();
  for (const s of perLane) addStats(stats, s);
  return stats;
}
