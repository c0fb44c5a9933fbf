import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mintDeviceJwt } from '../../src/adapters/crypto/device-jwt.js';
import { iotClient } from '../support/iot-client.js';
import { connectDevice, endQuietly } from '../support/mqtt-clients.js';
import { api, runCli, startServer } from '../support/server.js';

/**
 * A fleet brought over from Cloud IoT Core: a 10,000-device export in the shapes gcloud and the
 * API produced (registries from `gcloud iot registries list --format=json`, devices as
 * `devices.list` response pages with numIds, keys and configs), imported offline into a fresh data
 * directory; then the server runs on it, a device connects with its old key, and a backend finds
 * it by its old numId.
 */

const PROJECT = 'legacy-proj';
const REGION = 'europe-west1';
const REGISTRY = 'plant-sensors';
const REG = `projects/${PROJECT}/locations/${REGION}/registries/${REGISTRY}`;
const DEVICES = 10_000;
const PAGE = 1000;
const numIdOf = (i: number): string => String(2_716_000_000_000_000 + i * 7);

type Pair = { alg: 'RS256' | 'ES256'; format: string; publicKeyPem: string; privateKeyPem: string };
function pair(alg: 'RS256' | 'ES256'): Pair {
  const k = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    alg,
    format: alg === 'RS256' ? 'RSA_PEM' : 'ES256_PEM',
    publicKeyPem: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKeyPem: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

let dir: string;
let keys: Pair[];
const files = { registries: '', devices: '', bindings: '' };

/** Device i as Cloud IoT's devices.list returned it with a full field mask (output-only fields included). */
function apiDevice(i: number): Record<string, unknown> {
  const key = keys[i % keys.length]!;
  const gateway = i === 0;
  return {
    id: gateway ? 'gw-0' : `sensor-${String(i).padStart(5, '0')}`,
    name: `${REG}/devices/${numIdOf(i)}`,
    numId: numIdOf(i),
    credentials: [{ publicKey: { format: key.format, key: key.publicKeyPem }, expirationTime: '1970-01-01T00:00:00Z' }],
    lastHeartbeatTime: '2023-05-01T10:00:00Z',
    lastEventTime: '2023-05-01T10:00:01.123456Z',
    config: { version: String(1 + (i % 5)), cloudUpdateTime: '2023-04-01T08:00:00.5Z', deviceAckTime: '2023-04-01T08:00:02Z', binaryData: Buffer.from(`cfg-${i}`).toString('base64') },
    ...(i % 10 === 3 ? { state: { updateTime: '2023-04-02T00:00:00Z', binaryData: Buffer.from(`state-${i}`).toString('base64') } } : {}),
    ...(i % 100 === 7 ? { blocked: true } : {}),
    ...(i % 3 === 0 ? { metadata: { site: `hall-${i % 4}`, serial: `SN${i}` } } : {}),
    logLevel: i % 2 ? 'INFO' : 'NONE',
    gatewayConfig: gateway ? { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } : { gatewayType: 'NON_GATEWAY' },
  };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-fleet-e2e-'));
  keys = [pair('RS256'), pair('ES256'), pair('ES256')];
  files.registries = join(dir, 'registries.json');
  writeFileSync(
    files.registries,
    JSON.stringify(
      [
        {
          id: REGISTRY,
          name: REG,
          eventNotificationConfigs: [{ pubsubTopicName: `projects/${PROJECT}/topics/plant-events` }],
          stateNotificationConfig: { pubsubTopicName: `projects/${PROJECT}/topics/plant-state` },
          mqttConfig: { mqttEnabledState: 'MQTT_ENABLED' },
          httpConfig: { httpEnabledState: 'HTTP_ENABLED' },
          logLevel: 'ERROR',
        },
      ],
      null,
      2,
    ),
  );
  const pages: string[] = [];
  for (let p = 0; p < DEVICES / PAGE; p++) {
    const devices = Array.from({ length: PAGE }, (_, j) => apiDevice(p * PAGE + j));
    pages.push(JSON.stringify({ devices, ...(p < DEVICES / PAGE - 1 ? { nextPageToken: `page-${p + 1}` } : {}) }));
  }
  files.devices = join(dir, 'devices.jsonl');
  writeFileSync(files.devices, `${pages.join('\n')}\n`);
  files.bindings = join(dir, 'bindings.jsonl');
  writeFileSync(
    files.bindings,
    [1, 2, 3].map((i) => JSON.stringify({ kind: 'binding', registry: REG, gatewayId: 'gw-0', deviceId: apiDevice(i).id })).join('\n'),
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

const exportOf = async (dataDir: string): Promise<string> => {
  const r = await runCli(['export', '--data-dir', dataDir]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
};

describe('fleet import of a 10,000-device Cloud IoT export', { timeout: 60_000 }, () => {
  it('keeps numIds and keys; a device connects with its old key; a backend finds it by numId; re-runs change nothing; export round trip is lossless', async () => {
    const dataDir = join(dir, 'data');
    const started = Date.now();
    const imported = await runCli(['import', files.registries, files.devices, files.bindings, '--data-dir', dataDir]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, new RegExp(`${REG}: created, ${DEVICES} devices created, 0 unchanged, 3 bindings created`));
    const rate = /(\d+) devices\/s/.exec(imported.stdout)?.[1];
    console.log(`fleet import: ${DEVICES} devices in ${Date.now() - started} ms (CLI process included), ${rate} devices/s in the write phase`);

    const first = await exportOf(dataDir);
    assert.equal(first.split('\n').filter((l) => l.includes('"kind":"device"')).length, DEVICES);

    const server = await startServer({ dataDir });
    let client;
    try {
      // A device of the old fleet, with the key it always had (RS256: index 0 mod 3).
      const i = 3003;
      const d = apiDevice(i);
      const key = keys[i % keys.length]!;
      assert.equal(key.alg, 'RS256');
      const jwt = await mintDeviceJwt({ privateKeyPem: key.privateKeyPem, alg: key.alg, audience: PROJECT });
      client = await connectDevice(server, `${REG}/devices/${String(d.id)}`, jwt);
      const es = apiDevice(3004);
      const esKey = keys[3004 % keys.length]!;
      const esClient = await connectDevice(server, `${REG}/devices/${String(es.id)}`, await mintDeviceJwt({ privateKeyPem: esKey.privateKeyPem, alg: 'ES256', audience: PROJECT }));
      await endQuietly(esClient);

      // The backend still addresses devices by the numIds it stored years ago.
      const [found] = await iotClient(server).getDevice({ name: `${REG}/devices/${numIdOf(i)}` });
      assert.equal(found.id, d.id);
      assert.equal(String(found.numId), numIdOf(i));
      assert.equal(String(found.config?.version), (d.config as { version: string }).version);
      assert.equal(Buffer.from(found.config!.binaryData as Uint8Array).toString(), `cfg-${i}`);

      const bound = await api(server, 'GET', `/v1/${REG}/devices?gatewayListOptions.associationsGatewayId=gw-0`);
      assert.deepEqual((bound.json.devices as { id: string }[]).map((x) => x.id).sort(), ['sensor-00001', 'sensor-00002', 'sensor-00003']);

      // Export next to the running server (read-only, WAL): the same fleet.
      assert.equal(await exportOf(dataDir), first);

      // numIds handed out after the import never collide with imported ones.
      const created = await api(server, 'POST', `/v1/${REG}/devices`, { id: 'new-after-import' });
      assert.equal(created.status, 200, JSON.stringify(created.json));
      assert.ok(BigInt(String(created.json.numId)) > BigInt(numIdOf(DEVICES - 1)));
      await api(server, 'DELETE', `/v1/${REG}/devices/new-after-import`);
    } finally {
      await endQuietly(client);
      assert.equal(await server.stop(), 0);
    }

    // After the server ran (activity, connections): the re-run finds everything as it left it.
    const again = await runCli(['import', files.registries, files.devices, files.bindings, '--data-dir', dataDir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`${REG}: existing, 0 devices created, ${DEVICES} unchanged, 0 bindings created, 3 unchanged`));
    assert.equal(await exportOf(dataDir), first);

    // Round trip: our own export into an empty data directory exports the same.
    const exportFile = join(dir, 'export.jsonl');
    const out = await runCli(['export', '--data-dir', dataDir, '--out', exportFile]);
    assert.equal(out.code, 0, out.stderr);
    const second = join(dir, 'data-2');
    const r2 = await runCli(['import', exportFile, '--data-dir', second, '--quiet']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(await exportOf(second), readFileSync(exportFile, 'utf8'));
    assert.equal(readFileSync(exportFile, 'utf8'), first);
  });

  it('a numId collision with a device already in the data directory refuses the import and names both devices', async () => {
    const dataDir = join(dir, 'data-collide');
    const seed = join(dir, 'seed.jsonl');
    writeFileSync(
      seed,
      [
        JSON.stringify({ kind: 'registry', name: `projects/${PROJECT}/locations/${REGION}/registries/other-reg` }),
        JSON.stringify({ kind: 'device', registry: `projects/${PROJECT}/locations/${REGION}/registries/other-reg`, id: 'squatter', numId: numIdOf(42) }),
      ].join('\n'),
    );
    assert.equal((await runCli(['import', seed, '--data-dir', dataDir, '--quiet'])).code, 0);
    const r = await runCli(['import', files.registries, files.devices, '--data-dir', dataDir, '--quiet']);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, new RegExp(`device "sensor-00042": numId ${numIdOf(42)} is already used by device "squatter"`));
    const left = await exportOf(dataDir);
    assert.ok(!left.includes(REG), 'nothing of the refused import was written');
  });
});
