import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { iotClient, iotGrpcClient, type DeviceManagerClient } from '../support/iot-client.js';
import { makeCa, makeDeviceKeys } from '../support/pki.js';
import { startServer, type StartedServer } from '../support/server.js';

/**
 * REST and gRPC are two edges of one service: the same call through @google-cloud/iot in REST mode
 * and in gRPC mode must give the same result, or the same error (code, message, field violations
 * and reason). Both modes decode into the same message objects, so results compare as they are.
 */

const P = 'proj-parity';
const L = 'us-central1';
const PARENT = `projects/${P}/locations/${L}`;
const REG = `${PARENT}/registries/reg-par`;

/** Not even the calls gax retries by default (RESOURCE_EXHAUSTED for configs) may be retried here. */
const ONCE = { retry: null };

type Outcome = { ok: unknown } | { error: { status: string; message: string; fieldViolations: unknown[]; reason: string | undefined } };

const STATUS_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

interface RestError {
  message: string;
  response?: { headers?: { get?(name: string): string | null } };
}

interface GrpcError {
  code: number;
  details: string;
  reason?: string;
  statusDetails?: { fieldViolations?: { field: string; description: string }[] }[];
}

/** REST mode: gax hands over Google's error JSON as the message, and the HTTP response. */
function restError(e: RestError): Outcome {
  const body = JSON.parse(e.message) as { error: { status: string; message: string; details?: { '@type': string; fieldViolations?: { field: string; description: string }[] }[] } };
  const violations = body.error.details?.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest')?.fieldViolations ?? [];
  return {
    error: {
      status: body.error.status,
      message: body.error.message,
      fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })),
      reason: e.response?.headers?.get?.('x-bridgehead-error-reason') ?? undefined,
    },
  };
}

/** gRPC mode: gax decodes grpc-status-details-bin into statusDetails and ErrorInfo into reason. */
function grpcError(e: GrpcError): Outcome {
  const violations = e.statusDetails?.find((d) => d.fieldViolations !== undefined)?.fieldViolations ?? [];
  return {
    error: {
      status: STATUS_NAMES[e.code] ?? String(e.code),
      message: e.details,
      fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })),
      reason: e.reason,
    },
  };
}

async function outcome(call: Promise<unknown>, toError: (e: never) => Outcome): Promise<Outcome> {
  try {
    return { ok: await call };
  } catch (e) {
    return toError(e as never);
  }
}

/**
 * What differs between two twin resources made by separate calls: numIds and times. The twins'
 * own IDs are passed in and replaced too.
 */
function normalized(v: unknown, ids: readonly string[]): unknown {
  if (typeof v === 'string') {
    let s = v;
    for (const id of ids) s = s.split(id).join('TWIN');
    return s.replace(/\/devices\/\d+$/, '/devices/NUM').replace(/^\d{16,}$/, 'NUM');
  }
  if (Array.isArray(v)) return v.map((x) => normalized(x, ids));
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || v instanceof Uint8Array) return v;
  const o = v as Record<string, unknown>;
  if (Object.keys(o).length === 2 && 'seconds' in o && 'nanos' in o) return o.seconds === '0' && o.nanos === 0 ? 'EPOCH' : 'TIME';
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, normalized(x, ids)]));
}

describe('REST and gRPC give the same results and the same errors', () => {
  let server: StartedServer;
  let rest: DeviceManagerClient;
  let grpc: DeviceManagerClient;
  let gatewayNumId: string;

  before(async () => {
    server = await startServer({ args: ['--grpc-listen', '127.0.0.1:0', '--grpc-anonymous'] });
    rest = iotClient(server);
    grpc = iotGrpcClient(server);
    const ca = await makeCa();
    const keys = await makeDeviceKeys('ES256');
    await rest.createDeviceRegistry({
      parent: PARENT,
      deviceRegistry: {
        id: 'reg-par',
        eventNotificationConfigs: [{ pubsubTopicName: `projects/${P}/topics/alerts`, subfolderMatches: 'alerts' }, { pubsubTopicName: `projects/${P}/topics/telemetry` }],
        stateNotificationConfig: { pubsubTopicName: `projects/${P}/topics/state` },
        mqttConfig: { mqttEnabledState: 'MQTT_ENABLED' },
        logLevel: 'INFO',
        credentials: [{ publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: ca.certificatePem } }],
      },
    });
    await rest.createDeviceRegistry({ parent: PARENT, deviceRegistry: { id: 'reg-plain' } });
    await rest.createDeviceRegistry({ parent: PARENT, deviceRegistry: { id: 'reg-more' } });
    const plain = `${PARENT}/registries/reg-plain`;
    await rest.createDevice({
      parent: plain,
      device: {
        id: 'dev-a',
        credentials: [{ publicKey: { format: 'ES256_PEM', key: keys.publicKeyPem }, expirationTime: { seconds: 4102444800 } }],
        metadata: { floor: '3' },
        logLevel: 'DEBUG',
        blocked: true,
        config: { binaryData: Buffer.from('v1') },
      },
    });
    const [gw] = await rest.createDevice({ parent: plain, device: { id: 'gw-1', gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' } } });
    gatewayNumId = String(gw.numId);
    await rest.createDevice({ parent: plain, device: { id: 'dev-b' } });
    await rest.bindDeviceToGateway({ parent: plain, gatewayId: 'gw-1', deviceId: 'dev-b' });
    await rest.modifyCloudToDeviceConfig({ name: `${plain}/devices/dev-a`, binaryData: Buffer.from('v2') });
    await rest.setIamPolicy({ resource: plain, policy: { bindings: [{ role: 'roles/cloudiot.viewer', members: ['user:a@example.com'] }] } });
  });
  after(async () => {
    await rest.close();
    await grpc.close();
    await server.cleanup();
  });

  /** The same read, both ways, compared whole. */
  async function same(name: string, call: (c: DeviceManagerClient) => Promise<unknown>): Promise<void> {
    const [r, g] = [await outcome(call(rest), restError), await outcome(call(grpc), grpcError)];
    assert.ok('ok' in r, `${name} failed over REST: ${JSON.stringify(r)}`);
    assert.deepEqual(g, r, name);
  }

  it('reads: registries, devices with and without masks and filters, pages, configs, states, IAM', async () => {
    const plain = `${PARENT}/registries/reg-plain`;
    await same('getDeviceRegistry', (c) => c.getDeviceRegistry({ name: REG }));
    await same('listDeviceRegistries page', (c) => c.listDeviceRegistries({ parent: PARENT, pageSize: 2 }, { autoPaginate: false }));
    await same('listDeviceRegistries all', (c) => c.listDeviceRegistries({ parent: PARENT }));
    await same('getDevice', (c) => c.getDevice({ name: `${plain}/devices/dev-a` }));
    await same('getDevice by numId', (c) => c.getDevice({ name: `${plain}/devices/${gatewayNumId}` }));
    await same('getDevice masked', (c) => c.getDevice({ name: `${plain}/devices/dev-a`, fieldMask: { paths: ['metadata', 'config.version', 'credentials', 'last_event_time'] } }));
    await same('listDevices', (c) => c.listDevices({ parent: plain }, { autoPaginate: false }));
    await same('listDevices masked, paged', (c) => c.listDevices({ parent: plain, pageSize: 2, fieldMask: { paths: ['metadata', 'gateway_config', 'blocked'] } }, { autoPaginate: false }));
    await same('listDevices bound to a gateway', (c) => c.listDevices({ parent: plain, gatewayListOptions: { associationsGatewayId: 'gw-1' } }, { autoPaginate: false }));
    await same('listDevices gateways only', (c) => c.listDevices({ parent: plain, gatewayListOptions: { gatewayType: 'GATEWAY' } }, { autoPaginate: false }));
    await same('listDevices by IDs', (c) => c.listDevices({ parent: plain, deviceIds: ['dev-b', 'nobody'], deviceNumIds: [gatewayNumId] }, { autoPaginate: false }));
    await same('listDeviceConfigVersions', (c) => c.listDeviceConfigVersions({ name: `${plain}/devices/dev-a` }));
    await same('listDeviceStates', (c) => c.listDeviceStates({ name: `${plain}/devices/dev-a` }));
    await same('getIamPolicy', (c) => c.getIamPolicy({ resource: plain }));
    await same('getIamPolicy of a registry without one', (c) => c.getIamPolicy({ resource: REG }));
    await same('testIamPermissions', (c) => c.testIamPermissions({ resource: plain, permissions: ['cloudiot.devices.get', 'not.a.permission'] }));
  });

  it('writes: twin resources made and changed through each edge come out alike', async () => {
    const keys = await makeDeviceKeys('ES256');
    const twins = async (edge: DeviceManagerClient, reg: string): Promise<unknown[]> => {
      const registry = `${PARENT}/registries/${reg}`;
      const steps: unknown[] = [];
      const step = async (call: Promise<unknown>): Promise<void> => {
        steps.push(await outcome(call, (edge === rest ? restError : grpcError) as (e: never) => Outcome));
      };
      await step(edge.createDeviceRegistry({ parent: PARENT, deviceRegistry: { id: reg, httpConfig: { httpEnabledState: 'HTTP_DISABLED' }, logLevel: 'ERROR' } }));
      await step(edge.updateDeviceRegistry({ deviceRegistry: { name: registry, logLevel: 'NONE', stateNotificationConfig: { pubsubTopicName: `projects/${P}/topics/twin-state` } }, updateMask: { paths: ['log_level', 'state_notification_config'] } }));
      await step(
        edge.createDevice({
          parent: registry,
          device: { id: 'dev-t', credentials: [{ publicKey: { format: 'ES256_X509_PEM', key: keys.certificatePem } }], metadata: { k: 'v' }, config: { binaryData: Buffer.from([0, 255]) } },
        }),
      );
      await step(edge.createDevice({ parent: registry, device: { id: 'gw-t', gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'DEVICE_AUTH_TOKEN_ONLY' } } }));
      await step(edge.updateDevice({ device: { name: `${registry}/devices/dev-t`, blocked: true, metadata: {} }, updateMask: { paths: ['blocked', 'metadata'] } }));
      await step(edge.modifyCloudToDeviceConfig({ name: `${registry}/devices/dev-t`, versionToUpdate: 1, binaryData: Buffer.from('two') }, ONCE));
      await step(edge.bindDeviceToGateway({ parent: registry, gatewayId: 'gw-t', deviceId: 'dev-t' }));
      await step(edge.unbindDeviceFromGateway({ parent: registry, gatewayId: 'gw-t', deviceId: 'dev-t' }));
      await step(edge.setIamPolicy({ resource: registry, policy: { version: 1, bindings: [{ role: 'roles/cloudiot.editor', members: ['user:b@example.com'] }] } }));
      await step(edge.testIamPermissions({ resource: registry, permissions: ['cloudiot.registries.update'] }));
      await step(edge.deleteDevice({ name: `${registry}/devices/gw-t` }));
      await step(edge.listDeviceConfigVersions({ name: `${registry}/devices/dev-t` }));
      return steps;
    };
    const viaRest = normalized(await twins(rest, 'twin-rest'), ['twin-rest']);
    const viaGrpc = normalized(await twins(grpc, 'twin-grpc'), ['twin-grpc']);
    assert.deepEqual(viaGrpc, viaRest);
    assert.ok((viaRest as Outcome[]).every((o) => 'ok' in o), JSON.stringify(viaRest));
  });

  it('errors: the same code, message, field violations and reason', async () => {
    const plain = `${PARENT}/registries/reg-plain`;
    const es = await makeDeviceKeys('ES256');
    const cases: [string, (c: DeviceManagerClient) => Promise<unknown>][] = [
      // (A malformed resource name never leaves the REST client: gax cannot build the URL path.)
      ['bad registry ID', (c) => c.createDeviceRegistry({ parent: PARENT, deviceRegistry: { id: '1bad' } })],
      ['bad topic', (c) => c.createDeviceRegistry({ parent: PARENT, deviceRegistry: { id: 'reg-x', eventNotificationConfigs: [{ pubsubTopicName: 'nope' }] } })],
      ['duplicate registry', (c) => c.createDeviceRegistry({ parent: PARENT, deviceRegistry: { id: 'reg-par' } })],
      ['bad CA certificate', (c) => c.createDeviceRegistry({ parent: PARENT, deviceRegistry: { id: 'reg-x', credentials: [{ publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: 'junk' } }] } })],
      ['registry mask path id', (c) => c.updateDeviceRegistry({ deviceRegistry: { name: REG, id: 'x' }, updateMask: { paths: ['id'] } })],
      // (Not a registry update with nothing but the name: gax's REST mode then sends the body `""`,
      // which the REST edge refuses as not a JSON object before the service sees the request.)
      ['registry without mask', (c) => c.updateDeviceRegistry({ deviceRegistry: { name: REG, logLevel: 'DEBUG' } })],
      ['unknown registry', (c) => c.getDeviceRegistry({ name: `${PARENT}/registries/nope` })],
      ['forged page token', (c) => c.listDeviceRegistries({ parent: PARENT, pageToken: 'forged!' }, { autoPaginate: false })],
      ['device with a numId', (c) => c.createDevice({ parent: plain, device: { id: 'dev-x', numId: 5 } })],
      ['credential without format', (c) => c.createDevice({ parent: plain, device: { id: 'dev-x', credentials: [{ publicKey: { key: es.publicKeyPem } }] } })],
      ['second credential without key', (c) => c.createDevice({ parent: plain, device: { id: 'dev-x', credentials: [{ publicKey: { format: 'ES256_PEM', key: es.publicKeyPem } }, { publicKey: { format: 'RSA_PEM' } }] } })],
      ['key of the wrong format', (c) => c.createDevice({ parent: plain, device: { id: 'dev-x', credentials: [{ publicKey: { format: 'RSA_PEM', key: es.publicKeyPem } }] } })],
      ['four credentials', (c) => c.createDevice({ parent: plain, device: { id: 'dev-x', credentials: Array.from({ length: 4 }, () => ({ publicKey: { format: 'ES256_PEM' as const, key: es.publicKeyPem } })) } })],
      ['raw key in a registry with a CA', (c) => c.createDevice({ parent: REG, device: { id: 'dev-x', credentials: [{ publicKey: { format: 'ES256_PEM', key: es.publicKeyPem } }] } })],
      ['bad metadata key', (c) => c.createDevice({ parent: plain, device: { id: 'dev-x', metadata: { '1bad': 'v' } } })],
      ['config version on create', (c) => c.createDevice({ parent: plain, device: { id: 'dev-x', config: { version: 5 } } })],
      ['duplicate device', (c) => c.createDevice({ parent: plain, device: { id: 'dev-a' } })],
      ['unknown device', (c) => c.getDevice({ name: `${plain}/devices/nobody` })],
      ['unknown mask path', (c) => c.getDevice({ name: `${plain}/devices/dev-a`, fieldMask: { paths: ['bogus'] } })],
      ['device update without mask', (c) => c.updateDevice({ device: { name: `${plain}/devices/dev-a`, blocked: false } })],
      ['device update of config', (c) => c.updateDevice({ device: { name: `${plain}/devices/dev-a` }, updateMask: { paths: ['config'] } })],
      ['negative page size', (c) => c.listDevices({ parent: plain, pageSize: -1 }, { autoPaginate: false })],
      ['stale config version', (c) => c.modifyCloudToDeviceConfig({ name: `${plain}/devices/dev-a`, versionToUpdate: 1, binaryData: Buffer.from('x') }, ONCE)],
      ['config too large', (c) => c.modifyCloudToDeviceConfig({ name: `${plain}/devices/dev-a`, binaryData: Buffer.alloc(64 * 1024 + 1) }, ONCE)],
      ['negative num_versions', (c) => c.listDeviceConfigVersions({ name: `${plain}/devices/dev-a`, numVersions: -1 })],
      ['command to an offline device', (c) => c.sendCommandToDevice({ name: `${plain}/devices/dev-a`, binaryData: Buffer.from('x') }, ONCE)],
      ['command subfolder with a wildcard', (c) => c.sendCommandToDevice({ name: `${plain}/devices/dev-a`, binaryData: Buffer.from('x'), subfolder: 'a/#' }, ONCE)],
      ['bind to a device that is not a gateway', (c) => c.bindDeviceToGateway({ parent: plain, gatewayId: 'dev-a', deviceId: 'dev-b' })],
      ['bind an unknown device', (c) => c.bindDeviceToGateway({ parent: plain, gatewayId: 'gw-1', deviceId: 'nobody' })],
      ['bind without gateway_id', (c) => c.bindDeviceToGateway({ parent: plain, deviceId: 'dev-b' })],
      ['policy with a stale etag', (c) => c.setIamPolicy({ resource: plain, policy: { bindings: [], etag: Buffer.from('ACAB') } })],
      ['policy version 2', (c) => c.setIamPolicy({ resource: plain, policy: { version: 2 } })],
      ['binding without a role', (c) => c.setIamPolicy({ resource: plain, policy: { bindings: [{ members: ['user:a@example.com'] }] } })],
      ['delete a registry with devices', (c) => c.deleteDeviceRegistry({ name: plain })],
    ];
    for (const [name, call] of cases) {
      const r = await outcome(call(rest), restError);
      const g = await outcome(call(grpc), grpcError);
      assert.ok('error' in r, `${name}: expected an error over REST, got ${JSON.stringify(r)}`);
      assert.deepEqual(g, r, name);
      assert.ok(r.error.reason, `${name}: REST names the reason`);
    }
  });
});
