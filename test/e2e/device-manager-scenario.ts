import assert from 'node:assert/strict';
import { it } from 'node:test';
import { rejectsWith, type DeviceManagerClient } from '../support/iot-client.js';
import { makeCa, makeDeviceCertSignedBy, makeDeviceKeys } from '../support/pki.js';

/**
 * The Device Manager scenario every transport runs with the official @google-cloud/iot client
 * (spec §3): every method and its error cases. device-manager.test.ts runs it over REST,
 * device-manager-grpc*.test.ts over gRPC, plaintext and TLS, each bringing its own server; the
 * key-file run (device-manager-grpc-keyfile.test.ts) runs the steps in a child process, whose
 * environment carries the credentials, and reports each step's outcome.
 */

export interface ScenarioContext {
  client: DeviceManagerClient;
  /** A client presenting `token` instead of valid credentials (transports that require them). */
  clientWithToken?: (token: string) => DeviceManagerClient;
}

export interface ScenarioOptions {
  /** The transport refuses calls without valid credentials (not an anonymous one). */
  requiresCredentials: boolean;
}

export interface ScenarioStep {
  name: string;
  run: () => Promise<void>;
}

/** Registers the scenario's steps as tests in the calling describe(); `ctx` is read when they run. */
export function deviceManagerScenario(ctx: () => ScenarioContext, opts: ScenarioOptions): void {
  for (const s of deviceManagerScenarioSteps(ctx, opts)) it(s.name, s.run);
}

/**
 * The scenario's steps in order, each depending only on what the earlier ones left behind;
 * `ctx` is read only when a step runs, so the names can be listed without a client.
 */
export function deviceManagerScenarioSteps(ctx: () => ScenarioContext, opts: ScenarioOptions): ScenarioStep[] {
  const steps: ScenarioStep[] = [];
  const step = (name: string, run: () => Promise<void>): void => {
    steps.push({ name, run });
  };
  const P = 'proj-e2e';
  const L = 'us-central1';
  const parent = (): string => ctx().client.locationPath(P, L);
  const regPath = (r: string): string => ctx().client.registryPath(P, L, r);
  const devPath = (r: string, d: string): string => ctx().client.devicePath(P, L, r, d);

  step('creates, gets, lists, patches and deletes registries', async () => {
    const { client } = ctx();
    const [created] = await client.createDeviceRegistry({
      parent: parent(),
      deviceRegistry: {
        id: 'reg-a',
        eventNotificationConfigs: [
          { pubsubTopicName: `projects/${P}/topics/alerts`, subfolderMatches: 'alerts' },
          { pubsubTopicName: `projects/${P}/topics/telemetry` },
        ],
        stateNotificationConfig: { pubsubTopicName: `projects/${P}/topics/state` },
        mqttConfig: { mqttEnabledState: 'MQTT_ENABLED' },
        httpConfig: { httpEnabledState: 'HTTP_DISABLED' },
        logLevel: 'INFO',
      },
    });
    assert.equal(created.id, 'reg-a');
    assert.equal(created.name, regPath('reg-a'));
    assert.equal(created.eventNotificationConfigs?.[0]?.subfolderMatches, 'alerts');
    assert.equal(created.httpConfig?.httpEnabledState, 'HTTP_DISABLED');
    assert.equal(created.logLevel, 'INFO');

    await rejectsWith(client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-a' } }), 'ALREADY_EXISTS');
    await rejectsWith(client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: '1bad' } }), 'INVALID_ARGUMENT', /registry ID/);
    await rejectsWith(client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'goog-reg' } }), 'INVALID_ARGUMENT', /goog/);
    await rejectsWith(
      client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-bad-topic', eventNotificationConfigs: [{ pubsubTopicName: 'nope' }] } }),
      'INVALID_ARGUMENT',
      /pubsub_topic_name/,
    );

    const [got] = await client.getDeviceRegistry({ name: regPath('reg-a') });
    assert.equal(got.stateNotificationConfig?.pubsubTopicName, `projects/${P}/topics/state`);

    const [patched] = await client.updateDeviceRegistry({
      deviceRegistry: { name: regPath('reg-a'), httpConfig: { httpEnabledState: 'HTTP_ENABLED' }, logLevel: 'DEBUG' },
      updateMask: { paths: ['http_config'] },
    });
    assert.equal(patched.httpConfig?.httpEnabledState, 'HTTP_ENABLED');
    assert.equal(patched.logLevel, 'INFO', 'fields outside the mask are unchanged');
    await rejectsWith(
      client.updateDeviceRegistry({ deviceRegistry: { name: regPath('reg-a'), id: 'x' }, updateMask: { paths: ['id'] } }),
      'INVALID_ARGUMENT',
      /update_mask|id/,
    );
    await rejectsWith(client.updateDeviceRegistry({ deviceRegistry: { name: regPath('reg-a') }, updateMask: { paths: [] } }), 'INVALID_ARGUMENT');

    for (let i = 0; i < 7; i++) await client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: `reg-page-${i}` } });
    const ids: string[] = [];
    for await (const r of client.listDeviceRegistriesAsync({ parent: parent(), pageSize: 3 })) ids.push(r.id ?? '');
    assert.deepEqual(ids, ['reg-a', ...Array.from({ length: 7 }, (_, i) => `reg-page-${i}`)]);
    const [firstPage, , raw] = await client.listDeviceRegistries({ parent: parent(), pageSize: 3 }, { autoPaginate: false });
    assert.equal(firstPage.length, 3);
    assert.ok(raw?.nextPageToken);
    await rejectsWith(client.listDeviceRegistries({ parent: parent(), pageToken: 'garbage!' }, { autoPaginate: false }), 'INVALID_ARGUMENT', /page_token/);

    await client.deleteDeviceRegistry({ name: regPath('reg-page-0') });
    await rejectsWith(client.getDeviceRegistry({ name: regPath('reg-page-0') }), 'NOT_FOUND');
    await rejectsWith(client.deleteDeviceRegistry({ name: regPath('reg-page-0') }), 'NOT_FOUND');
  });

  step('creates devices with every credential format and reports them as the real service did', async () => {
    const { client } = ctx();
    await client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-dev' } });
    const es = await makeDeviceKeys('ES256');
    const rsa = await makeDeviceKeys('RS256');
    const [d] = await client.createDevice({
      parent: regPath('reg-dev'),
      device: {
        id: 'dev-1',
        credentials: [
          { publicKey: { format: 'ES256_PEM', key: es.publicKeyPem } },
          { publicKey: { format: 'RSA_X509_PEM', key: rsa.certificatePem }, expirationTime: { seconds: 4102444800 } },
          { publicKey: { format: 'ES256_X509_PEM', key: es.certificatePem } },
        ],
        metadata: { floor: '3', 'serial_no': 'abc' },
        config: { binaryData: Buffer.from('hello') },
      },
    });
    assert.equal(d.id, 'dev-1');
    assert.match(String(d.numId), /^\d{16}$/);
    assert.equal(d.name, devPath('reg-dev', String(d.numId)), 'name ends in the numId');
    assert.equal(d.config?.version, '1');
    assert.equal(Buffer.from(d.config?.binaryData as Uint8Array).toString(), 'hello');
    assert.equal(d.credentials?.length, 3);
    assert.equal(String(d.credentials?.[0]?.expirationTime?.seconds), '0', 'no expiry is reported as the epoch');
    assert.equal(String(d.credentials?.[1]?.expirationTime?.seconds), '4102444800');
    assert.deepEqual(d.metadata, { floor: '3', serial_no: 'abc' });
    assert.equal(d.gatewayConfig?.gatewayType, 'NON_GATEWAY');

    await client.createDevice({ parent: regPath('reg-dev'), device: { id: 'dev-rsa', credentials: [{ publicKey: { format: 'RSA_PEM', key: rsa.publicKeyPem } }] } });

    // By numId and by ID alike.
    const [byNum] = await client.getDevice({ name: devPath('reg-dev', String(d.numId)) });
    assert.equal(byNum.id, 'dev-1');
    const [masked] = await client.getDevice({ name: devPath('reg-dev', 'dev-1'), fieldMask: { paths: ['metadata', 'config'] } });
    assert.deepEqual(masked.metadata, { floor: '3', serial_no: 'abc' });
    assert.equal(masked.credentials?.length ?? 0, 0, 'fields outside the mask are absent');
    await rejectsWith(client.getDevice({ name: devPath('reg-dev', 'dev-1'), fieldMask: { paths: ['bogus_field'] } }), 'INVALID_ARGUMENT', /field_mask/);

    // Bad input: nothing is written.
    const bad = [
      { id: 'dev-2', credentials: [{ publicKey: { format: 'RSA_PEM' as const, key: es.publicKeyPem } }] },
      { id: 'dev-2', credentials: [{ publicKey: { format: 'ES256_PEM' as const, key: 'not a key' } }] },
      { id: 'dev-2', credentials: Array.from({ length: 4 }, () => ({ publicKey: { format: 'ES256_PEM' as const, key: es.publicKeyPem } })) },
      { id: 'dev-2', credentials: [{ publicKey: { format: 'UNSPECIFIED_PUBLIC_KEY_FORMAT' as const, key: es.publicKeyPem } }] },
      { id: 'dev-2', metadata: { '1bad': 'x' } },
      { id: 'dev 2' },
      { id: 'dev-2', config: { version: 5 } },
    ];
    for (const device of bad) {
      await rejectsWith(client.createDevice({ parent: regPath('reg-dev'), device }), 'INVALID_ARGUMENT');
    }
    await rejectsWith(client.getDevice({ name: devPath('reg-dev', 'dev-2') }), 'NOT_FOUND');
    await rejectsWith(client.createDevice({ parent: regPath('reg-dev'), device: { id: 'dev-1' } }), 'ALREADY_EXISTS');
    await rejectsWith(client.createDevice({ parent: regPath('no-such-reg'), device: { id: 'dev-1' } }), 'NOT_FOUND');
  });

  step('patches exactly the mutable device fields', async () => {
    const { client } = ctx();
    await client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-patch' } });
    await client.createDevice({ parent: regPath('reg-patch'), device: { id: 'dev-p', metadata: { a: '1' } } });
    const [p] = await client.updateDevice({
      device: { name: devPath('reg-patch', 'dev-p'), blocked: true, logLevel: 'ERROR', metadata: { b: '2' } },
      updateMask: { paths: ['blocked', 'metadata'] },
    });
    assert.equal(p.blocked, true);
    assert.deepEqual(p.metadata, { b: '2' }, 'metadata is replaced whole');
    assert.equal(p.logLevel, 'LOG_LEVEL_UNSPECIFIED', 'logLevel outside the mask is unchanged');
    for (const path of ['id', 'num_id', 'config', 'gateway_config.gateway_type', 'last_heartbeat_time']) {
      await rejectsWith(
        client.updateDevice({ device: { name: devPath('reg-patch', 'dev-p') }, updateMask: { paths: [path] } }),
        'INVALID_ARGUMENT',
        /update_mask/,
      );
    }
    const [unblocked] = await client.updateDevice({ device: { name: devPath('reg-patch', 'dev-p'), blocked: false }, updateMask: { paths: ['blocked'] } });
    assert.equal(unblocked.blocked, false);
  });

  step('checks new credentials against the registry CA certificates', async () => {
    const { client } = ctx();
    const ca = await makeCa();
    const other = await makeCa({ subject: { commonName: 'other-ca' } });
    const [r] = await client.createDeviceRegistry({
      parent: parent(),
      deviceRegistry: { id: 'reg-ca', credentials: [{ publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: ca.certificatePem } }] },
    });
    const details = r.credentials?.[0]?.publicKeyCertificate?.x509Details;
    assert.match(String(details?.subject), /test-ca/);
    assert.ok(details?.expiryTime?.seconds);

    const good = await makeDeviceCertSignedBy(ca, 'ES256');
    const foreign = await makeDeviceCertSignedBy(other, 'ES256');
    const [d] = await client.createDevice({
      parent: regPath('reg-ca'),
      device: { id: 'dev-ca', credentials: [{ publicKey: { format: 'ES256_X509_PEM', key: good.certificatePem } }] },
    });
    assert.equal(d.credentials?.length, 1);
    await rejectsWith(
      client.createDevice({ parent: regPath('reg-ca'), device: { id: 'dev-foreign', credentials: [{ publicKey: { format: 'ES256_X509_PEM', key: foreign.certificatePem } }] } }),
      'PERMISSION_DENIED',
      /index 0/,
    );
    await rejectsWith(
      client.createDevice({ parent: regPath('reg-ca'), device: { id: 'dev-raw', credentials: [{ publicKey: { format: 'ES256_PEM', key: good.publicKeyPem } }] } }),
      'PERMISSION_DENIED',
    );
    await rejectsWith(
      client.createDeviceRegistry({
        parent: parent(),
        deviceRegistry: { id: 'reg-badca', credentials: [{ publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: 'garbage' } }] },
      }),
      'INVALID_ARGUMENT',
      /certificate/,
    );
  });

  step('versions configs: newest first, optimistic concurrency, one update per second', async () => {
    const { client } = ctx();
    await client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-cfg' } });
    await client.createDevice({ parent: regPath('reg-cfg'), device: { id: 'dev-c' } });
    const name = devPath('reg-cfg', 'dev-c');
    const [v2] = await client.modifyCloudToDeviceConfig({ name, binaryData: Buffer.from('v2') });
    assert.equal(v2.version, '2');
    assert.equal(Buffer.from(v2.binaryData as Uint8Array).toString(), 'v2');
    // gax retries RESOURCE_EXHAUSTED for this method (after 1 s, when it would succeed): not here.
    await rejectsWith(client.modifyCloudToDeviceConfig({ name, versionToUpdate: 2, binaryData: Buffer.from('too soon') }, { retry: null }), 'RESOURCE_EXHAUSTED');
    await rejectsWith(client.modifyCloudToDeviceConfig({ name, versionToUpdate: 1, binaryData: Buffer.from('stale') }), 'FAILED_PRECONDITION');
    await rejectsWith(client.modifyCloudToDeviceConfig({ name, binaryData: Buffer.alloc(64 * 1024 + 1) }), 'INVALID_ARGUMENT');
    const [list] = await client.listDeviceConfigVersions({ name });
    assert.deepEqual(list.deviceConfigs?.map((c) => c.version), ['2', '1']);
    const [one] = await client.listDeviceConfigVersions({ name, numVersions: 1 });
    assert.deepEqual(one.deviceConfigs?.map((c) => c.version), ['2']);
    const [states] = await client.listDeviceStates({ name });
    assert.equal(states.deviceStates?.length ?? 0, 0);
  });

  step('sendCommandToDevice fails with FAILED_PRECONDITION for a device that is not connected', async () => {
    const { client } = ctx();
    await client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-cmd' } });
    await client.createDevice({ parent: regPath('reg-cmd'), device: { id: 'dev-cmd' } });
    await rejectsWith(
      client.sendCommandToDevice({ name: devPath('reg-cmd', 'dev-cmd'), binaryData: Buffer.from('reboot'), subfolder: 'sys' }),
      'FAILED_PRECONDITION',
      /not connected/,
    );
    await rejectsWith(client.sendCommandToDevice({ name: devPath('reg-cmd', 'nobody'), binaryData: Buffer.from('x') }), 'NOT_FOUND');
    await rejectsWith(
      client.sendCommandToDevice({ name: devPath('reg-cmd', 'dev-cmd'), binaryData: Buffer.from('x'), subfolder: 'a/#' }),
      'INVALID_ARGUMENT',
    );
  });

  step('binds devices to gateways and filters lists by association and type', async () => {
    const { client } = ctx();
    await client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-gw' } });
    const [gw] = await client.createDevice({
      parent: regPath('reg-gw'),
      device: { id: 'gw-1', gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } },
    });
    assert.equal(gw.gatewayConfig?.gatewayAuthMethod, 'ASSOCIATION_ONLY');
    const [s1] = await client.createDevice({ parent: regPath('reg-gw'), device: { id: 'sensor-1' } });
    await client.createDevice({ parent: regPath('reg-gw'), device: { id: 'sensor-2' } });
    await client.bindDeviceToGateway({ parent: regPath('reg-gw'), gatewayId: 'gw-1', deviceId: 'sensor-1' });
    await client.bindDeviceToGateway({ parent: regPath('reg-gw'), gatewayId: String(gw.numId), deviceId: 'sensor-2' });
    await client.bindDeviceToGateway({ parent: regPath('reg-gw'), gatewayId: 'gw-1', deviceId: 'sensor-2' });
    await rejectsWith(client.bindDeviceToGateway({ parent: regPath('reg-gw'), gatewayId: 'sensor-1', deviceId: 'sensor-2' }), 'FAILED_PRECONDITION');
    await rejectsWith(client.bindDeviceToGateway({ parent: regPath('reg-gw'), gatewayId: 'gw-1', deviceId: 'ghost' }), 'NOT_FOUND');

    const [bound] = await client.listDevices({ parent: regPath('reg-gw'), gatewayListOptions: { associationsGatewayId: 'gw-1' } }, { autoPaginate: false });
    assert.deepEqual(bound.map((d) => d.id), ['sensor-1', 'sensor-2']);
    const [gateways] = await client.listDevices({ parent: regPath('reg-gw'), gatewayListOptions: { associationsDeviceId: String(s1.numId) } }, { autoPaginate: false });
    assert.deepEqual(gateways.map((d) => d.id), ['gw-1']);
    const [onlyGw] = await client.listDevices({ parent: regPath('reg-gw'), gatewayListOptions: { gatewayType: 'GATEWAY' } }, { autoPaginate: false });
    assert.deepEqual(onlyGw.map((d) => d.id), ['gw-1']);
    const [nonGw] = await client.listDevices({ parent: regPath('reg-gw'), gatewayListOptions: { gatewayType: 'NON_GATEWAY' } }, { autoPaginate: false });
    assert.deepEqual(nonGw.map((d) => d.id), ['sensor-1', 'sensor-2']);

    await client.unbindDeviceFromGateway({ parent: regPath('reg-gw'), gatewayId: 'gw-1', deviceId: 'sensor-1' });
    // docs/compat.md C-BIND: unbinding a pair that is not bound succeeds; unknown devices do not.
    await client.unbindDeviceFromGateway({ parent: regPath('reg-gw'), gatewayId: 'gw-1', deviceId: 'sensor-1' });
    await rejectsWith(client.unbindDeviceFromGateway({ parent: regPath('reg-gw'), gatewayId: 'gw-1', deviceId: 'ghost' }), 'NOT_FOUND');
    const [after1] = await client.listDevices({ parent: regPath('reg-gw'), gatewayListOptions: { associationsGatewayId: 'gw-1' } }, { autoPaginate: false });
    assert.deepEqual(after1.map((d) => d.id), ['sensor-2']);

    // Deleting a bound device cascades its bindings (docs/compat.md C-DEV-DELETE).
    await client.deleteDevice({ name: devPath('reg-gw', 'sensor-2') });
    const [after2] = await client.listDevices({ parent: regPath('reg-gw'), gatewayListOptions: { associationsGatewayId: 'gw-1' } }, { autoPaginate: false });
    assert.equal(after2.length, 0);
    // A registry with devices cannot be deleted (C-REG-DELETE).
    await rejectsWith(client.deleteDeviceRegistry({ name: regPath('reg-gw') }), 'FAILED_PRECONDITION');
  });

  step('lists devices page by page with id filters and the default projection', async () => {
    const { client } = ctx();
    await client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-list' } });
    for (let i = 0; i < 12; i++) {
      await client.createDevice({ parent: regPath('reg-list'), device: { id: `d-${String(i).padStart(2, '0')}`, metadata: { i: String(i) } } });
    }
    const seen: string[] = [];
    for await (const d of client.listDevicesAsync({ parent: regPath('reg-list'), pageSize: 5 })) {
      seen.push(d.id ?? '');
      assert.ok(d.name && d.numId, 'id, name and numId are always present');
      assert.equal(Object.keys(d.metadata ?? {}).length, 0, 'metadata is not in the default projection');
    }
    assert.equal(seen.length, 12);
    assert.deepEqual(seen, [...seen].sort());
    const [some] = await client.listDevices({ parent: regPath('reg-list'), deviceIds: ['d-03', 'd-07', 'missing'], fieldMask: { paths: ['metadata'] } }, { autoPaginate: false });
    assert.deepEqual(some.map((d) => [d.id, d.metadata?.i]), [['d-03', '3'], ['d-07', '7']]);
    const [byNum] = await client.listDevices({ parent: regPath('reg-list'), deviceNumIds: [some[0]!.numId!] }, { autoPaginate: false });
    assert.deepEqual(byNum.map((d) => d.id), ['d-03']);
  });

  step('stores IAM policies with an etag', async () => {
    const { client } = ctx();
    await client.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-iam' } });
    const [empty] = await client.getIamPolicy({ resource: regPath('reg-iam') });
    assert.equal(empty.bindings?.length ?? 0, 0);
    const [set] = await client.setIamPolicy({
      resource: regPath('reg-iam'),
      policy: { bindings: [{ role: 'roles/cloudiot.viewer', members: ['user:a@example.com'] }], etag: empty.etag },
    });
    assert.deepEqual(set.bindings?.[0]?.members, ['user:a@example.com']);
    const [got] = await client.getIamPolicy({ resource: regPath('reg-iam') });
    assert.equal(got.bindings?.[0]?.role, 'roles/cloudiot.viewer');
    await rejectsWith(client.setIamPolicy({ resource: regPath('reg-iam'), policy: { bindings: [], etag: empty.etag } }), 'ABORTED');
    const [perm] = await client.testIamPermissions({ resource: regPath('reg-iam'), permissions: ['cloudiot.devices.sendCommand'] });
    assert.deepEqual(perm.permissions, ['cloudiot.devices.sendCommand']);
  });

  if (!opts.requiresCredentials) return steps;
  step('refuses callers without valid credentials and changes nothing', async () => {
    const withToken = ctx().clientWithToken;
    assert.ok(withToken, 'a transport that requires credentials gives a way to send wrong ones');
    const bad = withToken('wrong-token-wrong-token-wrong');
    try {
      await rejectsWith(bad.createDeviceRegistry({ parent: parent(), deviceRegistry: { id: 'reg-unauth' } }), 'UNAUTHENTICATED');
    } finally {
      await bad.close();
    }
    await rejectsWith(ctx().client.getDeviceRegistry({ name: regPath('reg-unauth') }), 'NOT_FOUND');
  });
  return steps;
}
