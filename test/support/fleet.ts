import { readFileSync } from 'node:fs';
import { mintDeviceJwt } from '../../src/adapters/crypto/device-jwt.js';
import { makeDeviceKeys, type DeviceKeys, type KeyAlg } from './pki.js';
import { api, type StartedServer } from './server.js';

export const PROJECT = 'fleet-proj';
export const REGION = 'us-central1';

export interface TestDevice {
  id: string;
  numId: string;
  keys: DeviceKeys;
  clientId: string;
  jwt(opts?: { issuedAt?: number; expiresInSeconds?: number; audience?: string }): Promise<string>;
}

/** A registry with the usual routing: `alerts` subfolder to its own topic, the rest to `telemetry`. */
export async function createRegistry(server: StartedServer, id: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await api(server, 'POST', `/v1/projects/${PROJECT}/locations/${REGION}/registries`, {
    id,
    eventNotificationConfigs: [
      { pubsubTopicName: `projects/${PROJECT}/topics/alerts-${id}`, subfolderMatches: 'alerts' },
      { pubsubTopicName: `projects/${PROJECT}/topics/telemetry-${id}` },
    ],
    stateNotificationConfig: { pubsubTopicName: `projects/${PROJECT}/topics/state-${id}` },
    ...extra,
  });
  if (r.status !== 200) throw new Error(`create registry: ${JSON.stringify(r.json)}`);
  return id;
}

export async function createDevice(
  server: StartedServer,
  registry: string,
  id: string,
  opts: { alg?: KeyAlg; keys?: DeviceKeys; body?: Record<string, unknown> } = {},
): Promise<TestDevice> {
  const keys = opts.keys ?? (await makeDeviceKeys(opts.alg ?? 'ES256'));
  const r = await api(server, 'POST', `/v1/projects/${PROJECT}/locations/${REGION}/registries/${registry}/devices`, {
    id,
    credentials: [{ publicKey: { format: keys.rawFormat, key: keys.publicKeyPem } }],
    ...opts.body,
  });
  if (r.status !== 200) throw new Error(`create device: ${JSON.stringify(r.json)}`);
  return {
    id,
    numId: String(r.json.numId),
    keys,
    clientId: `projects/${PROJECT}/locations/${REGION}/registries/${registry}/devices/${id}`,
    jwt: (o = {}) =>
      mintDeviceJwt({
        privateKeyPem: keys.privateKeyPem,
        alg: keys.alg,
        audience: o.audience ?? PROJECT,
        ...(o.issuedAt === undefined ? {} : { issuedAt: o.issuedAt }),
        ...(o.expiresInSeconds === undefined ? {} : { expiresInSeconds: o.expiresInSeconds }),
      }),
  };
}

export const devicePath = (registry: string, device: string): string =>
  `/v1/projects/${PROJECT}/locations/${REGION}/registries/${registry}/devices/${device}`;

/** Messages of a topic in the embedded log, through the admin API. */
export async function logMessages(
  server: StartedServer,
  topic: string,
  after = 0,
): Promise<{ messageId: string; attributes: Record<string, string>; data: string; publishTime: string }[]> {
  const r = await api(server, 'GET', `/v1/projects/${PROJECT}/topics/${topic}/messages?after=${after}&limit=1000`);
  if (r.status !== 200) throw new Error(`read log: ${JSON.stringify(r.json)}`);
  return (r.json.messages ?? []) as { messageId: string; attributes: Record<string, string>; data: string; publishTime: string }[];
}

export const caOf = (server: StartedServer): Buffer => readFileSync(server.info.caFile);
export const mqttsUrl = (server: StartedServer): string => server.info.mqtt[0]!;
export const mqttUrl = (server: StartedServer): string => server.info.mqttPlain[0]!;
