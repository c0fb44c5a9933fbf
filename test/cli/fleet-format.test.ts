import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NodeKeyInspector } from '../../src/adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { readFleetText } from '../../src/cli/commands/fleet-json.js';
import { planImport, type FleetPlan, type FleetProblem } from '../../src/services/fleet-import.js';
import { runCli } from '../support/server.js';

const REG = 'projects/fleet-proj/locations/us-central1/registries/fleet-reg';
const EC_KEY = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
const RSA_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

const registry = (over: Record<string, unknown> = {}) => ({ kind: 'registry', name: REG, ...over });
const device = (id: string, numId: string, over: Record<string, unknown> = {}) => ({
  kind: 'device',
  registry: REG,
  id,
  numId,
  credentials: [{ publicKey: { format: 'ES256_PEM', key: EC_KEY } }],
  ...over,
});
const jsonl = (...items: unknown[]): string => `${items.map((i) => JSON.stringify(i)).join('\n')}\n`;

/** Reads and plans text as the import command does; every problem of both steps. */
async function check(text: string, defaultRegistry?: string): Promise<{ plan: FleetPlan; problems: FleetProblem[] }> {
  const read = readFleetText('f.jsonl', text, defaultRegistry);
  const store = new MemoryStore();
  const plan = await planImport(read.records, { keys: new NodeKeyInspector(), now: 0, storedRegistry: (k) => store.getRegistry(k) });
  return { plan, problems: [...read.problems, ...plan.problems] };
}

/** Asserts one problem at `where` whose field/message match. */
function hasProblem(problems: FleetProblem[], where: string, pattern: RegExp): void {
  assert.ok(
    problems.some((p) => p.where === where && pattern.test(`${p.field ?? ''} ${p.message}`)),
    `expected a problem at ${where} matching ${pattern}, got:\n${problems.map((p) => `${p.where} ${p.field ?? ''} ${p.message}`).join('\n')}`,
  );
}

describe('fleet format reader', () => {
  it('reads registries, devices with numIds, keys, config and state, and bindings', async () => {
    const { plan, problems } = await check(
      jsonl(
        registry({ eventNotificationConfigs: [{ pubsubTopicName: 'projects/fleet-proj/topics/events' }], httpConfig: { httpEnabledState: 'HTTP_DISABLED' } }),
        device('gw-1', '3000000000000001', { gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } }),
        device('dev-1', '3000000000000002', {
          credentials: [{ publicKey: { format: 'RSA_PEM', key: RSA_KEY }, expirationTime: '2030-01-01T00:00:00Z' }],
          metadata: { site: 'north' },
          blocked: true,
          logLevel: 'DEBUG',
          config: { version: '12', binaryData: 'aGVsbG8=', cloudUpdateTime: '2022-03-04T05:06:07Z' },
          state: { updateTime: '2022-03-04T05:06:08Z', binaryData: 'c3RhdGU=' },
        }),
        { kind: 'binding', registry: REG, gatewayId: 'gw-1', deviceId: 'dev-1' },
      ),
    );
    assert.deepEqual(problems, []);
    assert.equal(plan.registries.length, 1);
    const r = plan.registries[0]!;
    assert.equal(r.registry.httpEnabledState, 'HTTP_DISABLED');
    const d = r.devices.find((x) => x.id === 'dev-1')!;
    assert.equal(d.numId, '3000000000000002');
    assert.equal(d.config.version, 12);
    assert.equal(d.config.cloudUpdateTime, Date.UTC(2022, 2, 4, 5, 6, 7));
    assert.equal(Buffer.from(d.config.binaryData).toString(), 'hello');
    assert.equal(Buffer.from(d.state!.binaryData).toString(), 'state');
    assert.equal(d.credentials[0]!.expirationTime, Date.UTC(2030, 0, 1));
    assert.deepEqual(d.metadata, { site: 'north' });
    assert.equal(d.blocked, true);
    assert.deepEqual(r.bindings, [{ gatewayId: 'gw-1', deviceId: 'dev-1' }]);
  });

  it('reads gcloud list output (a JSON array) with --registry, and an API list response', async () => {
    const gcloud = JSON.stringify([{ id: 'dev-1', numId: '3000000000000001', blocked: false }, { id: 'dev-2', numId: '3000000000000002' }], null, 2);
    const api = JSON.stringify({ deviceRegistries: [{ id: 'fleet-reg', name: REG }], nextPageToken: '' }, null, 2);
    const read = readFleetText('regs.json', api, undefined);
    readFleetText('devs.json', gcloud, REG, read);
    const pages = readFleetText('pages.jsonl', jsonl({ devices: [{ id: 'dev-3', numId: '3000000000000003', name: `${REG}/devices/dev-3` }], nextPageToken: 'x' }), undefined, read);
    assert.deepEqual(pages.problems, []);
    const store = new MemoryStore();
    const plan = await planImport(read.records, { keys: new NodeKeyInspector(), now: 0, storedRegistry: (k) => store.getRegistry(k) });
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.registries[0]!.devices.map((d) => d.id).sort(), ['dev-1', 'dev-2', 'dev-3']);
  });

  it('a bare device in snake_case (num_id, log_level) is a device, as its camelCase twin', async () => {
    for (const d of [{ id: 'snake-dev', num_id: '3000000000000300', log_level: 'INFO' }, { id: 'camel-dev', numId: '3000000000000300', logLevel: 'INFO' }]) {
      const { plan, problems } = await check(jsonl(registry(), d), REG);
      assert.deepEqual(problems, [], JSON.stringify(d));
      assert.deepEqual(
        plan.registries[0]!.devices.map((x) => [x.id, x.numId, x.logLevel]),
        [[d.id, '3000000000000300', 'INFO']],
      );
    }
  });

  it('gcloud devices without --registry: the problem says what to add', async () => {
    const { problems } = await check(JSON.stringify([{ id: 'dev-1', numId: '3000000000000001' }]));
    hasProblem(problems, 'f.jsonl[0]', /--registry/);
  });

  it('a truncated last line is a problem at its line, and the lines before still get checked', async () => {
    const text = jsonl(registry(), device('dev-1', '3000000000000001', { blocked: 'yes' })) + JSON.stringify(device('dev-2', '3000000000000002')).slice(0, 40);
    const { problems } = await check(text);
    hasProblem(problems, 'f.jsonl:3', /truncated/);
    hasProblem(problems, 'f.jsonl:2', /device\.blocked/);
  });

  it('a truncated JSON array is one problem naming the file', async () => {
    const { problems } = await check('[{"id": "dev-1", "numId": "3');
    hasProblem(problems, 'f.jsonl', /truncated/);
  });

  it('an ID or a numId given twice: both named, with where the first was', async () => {
    const { problems } = await check(
      jsonl(registry(), device('dev-1', '3000000000000001'), device('dev-1', '3000000000000002'), device('dev-2', '3000000000000001')),
    );
    hasProblem(problems, 'f.jsonl:3', /device "dev-1" is given twice.*f\.jsonl:2/);
    hasProblem(problems, 'f.jsonl:4', /numId 3000000000000001.*given twice.*f\.jsonl:2/);
  });

  it('invalid keys and certificates: the field is named', async () => {
    const { problems } = await check(
      jsonl(
        registry({ credentials: [{ publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n' } }] }),
        device('dev-1', '3000000000000001', { credentials: [{ publicKey: { format: 'ES256_PEM', key: 'not a key' } }] }),
        device('dev-2', '3000000000000002', { credentials: [{ publicKey: { format: 'ES256_PEM', key: RSA_KEY } }] }),
      ),
    );
    hasProblem(problems, 'f.jsonl:1', /credentials\[0\]\.public_key_certificate\.certificate/);
    hasProblem(problems, 'f.jsonl:2', /credentials\[0\]\.public_key\.key/);
    hasProblem(problems, 'f.jsonl:3', /credentials\[0\]\.public_key\.key/);
  });

  it('unknown fields in a device, a registry, a binding and a list response are named', async () => {
    const { problems } = await check(
      jsonl(
        registry({ colour: 'blue' }),
        device('dev-1', '3000000000000001', { nickname: 'x' }),
        { kind: 'binding', registry: REG, gatewayId: 'a', deviceId: 'b', extra: 1 },
        { devices: [], total: 3 },
        { kind: 'sensor' },
        { hello: 'world' },
      ),
    );
    hasProblem(problems, 'f.jsonl:1', /colour/);
    hasProblem(problems, 'f.jsonl:2', /nickname/);
    hasProblem(problems, 'f.jsonl:3', /extra/);
    hasProblem(problems, 'f.jsonl:4', /total/);
    hasProblem(problems, 'f.jsonl:5', /kind/);
    hasProblem(problems, 'f.jsonl:6', /not a fleet record: .*"numId" \(or "num_id"\)/);
  });

  it('wrong types and values: numId, metadata, enum, timestamp, bytes, missing numId, registry name', async () => {
    const { problems } = await check(
      jsonl(
        registry(),
        device('dev-1', 'abc'),
        device('dev-2', '3000000000000002', { metadata: { n: 5 } }),
        device('dev-3', '3000000000000003', { logLevel: 'LOUD' }),
        device('dev-4', '3000000000000004', { config: { cloudUpdateTime: 'yesterday' } }),
        device('dev-5', '3000000000000005', { config: { binaryData: '%%%' } }),
        { ...device('dev-6', '1'), numId: undefined },
        device('dev-7', '99999999999999999'),
        { kind: 'registry', id: 'no-name' },
        device('dev-8', '3000000000000008', { registry: 'projects/x' }),
        device('dev-9', '3000000000000009', { registry: 'projects/fleet-proj/locations/us-central1/registries/elsewhere' }),
      ),
    );
    hasProblem(problems, 'f.jsonl:2', /num_id/);
    hasProblem(problems, 'f.jsonl:3', /metadata\.n/);
    hasProblem(problems, 'f.jsonl:4', /log_level/);
    hasProblem(problems, 'f.jsonl:5', /cloud_update_time/);
    hasProblem(problems, 'f.jsonl:6', /binary_data/);
    hasProblem(problems, 'f.jsonl:7', /num_id is required/);
    hasProblem(problems, 'f.jsonl:8', /out of range/);
    hasProblem(problems, 'f.jsonl:9', /registries\/no-name/);
    hasProblem(problems, 'f.jsonl:10', /registry/);
    hasProblem(problems, 'f.jsonl:11', /neither in the files nor in the data directory/);
  });

  it('bindings: unknown devices, a non-gateway as gateway, a gateway as device', async () => {
    const { problems } = await check(
      jsonl(
        registry(),
        device('gw-1', '3000000000000001', { gatewayConfig: { gatewayType: 'GATEWAY' } }),
        device('dev-1', '3000000000000002'),
        { kind: 'binding', registry: REG, gatewayId: 'gw-1', deviceId: 'ghost' },
        { kind: 'binding', registry: REG, gatewayId: 'dev-1', deviceId: 'dev-1' },
        { kind: 'binding', registry: REG, gatewayId: 'gw-1', deviceId: 'gw-1' },
        { kind: 'binding', registry: REG, gatewayId: 'gw-1' },
      ),
    );
    hasProblem(problems, 'f.jsonl:4', /ghost/);
    hasProblem(problems, 'f.jsonl:5', /not a gateway/);
    hasProblem(problems, 'f.jsonl:6', /is a gateway/);
    hasProblem(problems, 'f.jsonl:7', /deviceId is required/);
  });
});

describe('bridgehead import on bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-fleet-format-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 2, lists problems with line and field, caps the list, and writes nothing', async () => {
    const lines: object[] = [registry()];
    for (let i = 0; i < 80; i++) lines.push(device(`dev-${i}`, String(3_000_000_000_000_000 + i), { blocked: 'maybe' }));
    const file = join(dir, 'bad.jsonl');
    writeFileSync(file, jsonl(...lines));
    const dataDir = join(dir, 'data');
    const r = await runCli(['import', file, '--data-dir', dataDir, '--quiet']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /80 problems/);
    assert.match(r.stderr, /bad\.jsonl:2 device\.blocked/);
    assert.match(r.stderr, /and 30 more/);
    const exported = await runCli(['export', '--data-dir', dataDir]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(exported.stdout, '');
  });

  it('--dry-run checks against the data directory and writes nothing', async () => {
    const file = join(dir, 'good.jsonl');
    writeFileSync(file, jsonl(registry(), device('dev-1', '3000000000000001')));
    const dataDir = join(dir, 'dry');
    const dry = await runCli(['import', file, '--data-dir', dataDir, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^dry run: 1 registries \(1 would be created, 0 existing\), 1 devices \(1 would be created, 0 unchanged\); nothing written/);
    assert.equal((await runCli(['import', file, '--data-dir', dataDir, '--quiet'])).code, 0);
    // Counted as the real run counts: the stored device is unchanged, not imported again.
    writeFileSync(file, jsonl(registry(), device('dev-1', '3000000000000001'), device('dev-2', '3000000000000002')));
    const again = await runCli(['import', file, '--data-dir', dataDir, '--dry-run']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^dry run: 1 registries \(0 would be created, 1 existing\), 2 devices \(1 would be created, 1 unchanged\); nothing written/);
    writeFileSync(file, jsonl(registry(), device('dev-1', '3000000000000001')));
    writeFileSync(file, jsonl(registry(), device('dev-1', '3000000000000001', { blocked: true })));
    const changed = await runCli(['import', file, '--data-dir', dataDir, '--dry-run']);
    assert.equal(changed.code, 2);
    assert.match(changed.stderr, /device "dev-1" \(numId 3000000000000001\) exists with other content/);
    const exported = await runCli(['export', '--data-dir', dataDir]);
    assert.doesNotMatch(exported.stdout, /"blocked":true/);
    const one = await runCli(['export', '--data-dir', dataDir, '--registry', REG]);
    assert.equal(one.stdout, exported.stdout);
    const other = await runCli(['export', '--data-dir', dataDir, '--registry', `${REG}-x`]);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /registry .*fleet-reg-x not found/);
  });

  it('a --registry that is not a registry name says what to give', async () => {
    const r = await runCli(['import', join(dir, 'none.jsonl'), '--registry', 'my-reg', '--data-dir', join(dir, 'x')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--registry projects\/my-project\/locations\/us-central1\/registries\/my-registry/);
  });
});

describe('bridgehead export --out', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-fleet-export-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'data');

  it('a path that cannot be written: one clean line, exit 1, no success line', async () => {
    const file = join(dir, 'fleet.jsonl');
    writeFileSync(file, jsonl(registry(), device('dev-1', '3000000000000001')));
    assert.equal((await runCli(['import', file, '--data-dir', dataDir, '--quiet'])).code, 0);
    const r = await runCli(['export', '--data-dir', dataDir, '--out', join(dir, 'missing-dir', 'out.jsonl')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^export failed, nothing written: cannot write .*missing-dir.*ENOENT/);
    assert.doesNotMatch(r.stderr, /exported|\n\s+at /);
  });

  it('a registry not found leaves no file behind; a good export says so after the file is whole', async () => {
    const out = join(dir, 'out.jsonl');
    const r = await runCli(['export', '--data-dir', dataDir, '--registry', `${REG}-x`, '--out', out]);
    assert.equal(r.code, 2);
    assert.equal(existsSync(out), false);
    const ok = await runCli(['export', '--data-dir', dataDir, '--out', out]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /exported 1 registries, 1 devices to /);
    assert.equal(readFileSync(out, 'utf8').split('\n').filter(Boolean).length, 2);
  });
});
