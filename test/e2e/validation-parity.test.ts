import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NodeKeyInspector } from '../../src/adapters/crypto/key-inspector.js';
import { MemoryStore } from '../../src/adapters/store/memory/memory-store.js';
import { ApiError } from '../../src/domain/errors.js';
import { ApiAuth, type Principal } from '../../src/services/api-auth.js';
import { DeviceAdmin } from '../../src/services/device-admin.js';
import { api, startServer, type StartedServer } from '../support/server.js';

const ADMIN: Principal = { kind: 'admin' };
const P = 'proj';
const L = 'us-central1';
const PARENT = `projects/${P}/locations/${L}`;
const REG = `${PARENT}/registries/reg`;
const DEV = `${REG}/devices/dev-1`;
const PEM = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';

/** What both edges must agree on: the canonical code, the field at fault and the reason. */
interface Outcome {
  status: string;
  field: string | undefined;
  reason: string | undefined;
}

interface ErrorJson {
  error?: { status?: string; details?: { '@type': string; fieldViolations?: { field: string }[] }[] };
}

async function restOutcome(server: StartedServer, method: string, path: string, body: unknown): Promise<Outcome> {
  const res = await fetch(`${server.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as ErrorJson;
  return {
    status: json.error?.status ?? 'OK',
    field: json.error?.details?.find((d) => d['@type'].endsWith('BadRequest'))?.fieldViolations?.[0]?.field,
    reason: res.headers.get('x-bridgehead-error-reason') ?? undefined,
  };
}

async function serviceOutcome(call: Promise<unknown>): Promise<Outcome> {
  try {
    await call;
    return { status: 'OK', field: undefined, reason: undefined };
  } catch (e) {
    assert.ok(e instanceof ApiError, String(e));
    return { status: e.kind, field: e.kind === 'INVALID_ARGUMENT' ? e.field : undefined, reason: e.reason };
  }
}

/**
 * One request, two ways in: over HTTP to the running server's REST routes, and straight into the
 * DeviceAdmin service as every edge calls it. The validation rules live once, in the service, so
 * the code, field path and reason must be identical.
 */
const CASES: { name: string; rest: [string, string, unknown?]; service: (a: DeviceAdmin) => Promise<unknown> }[] = [
  {
    name: 'registry without an ID',
    rest: ['POST', `/v1/${PARENT}/registries`, {}],
    service: (a) => a.createDeviceRegistry(ADMIN, { parent: PARENT, deviceRegistry: {} }),
  },
  {
    name: 'registry ID starting with goog',
    rest: ['POST', `/v1/${PARENT}/registries`, { id: 'google-reg' }],
    service: (a) => a.createDeviceRegistry(ADMIN, { parent: PARENT, deviceRegistry: { id: 'google-reg' } }),
  },
  {
    name: 'bad event topic',
    rest: ['POST', `/v1/${PARENT}/registries`, { id: 'r2', eventNotificationConfigs: [{ pubsubTopicName: 'nope' }] }],
    service: (a) => a.createDeviceRegistry(ADMIN, { parent: PARENT, deviceRegistry: { id: 'r2', eventNotificationConfigs: [{ pubsubTopicName: 'nope' }] } }),
  },
  {
    name: 'registry with a name on create',
    rest: ['POST', `/v1/${PARENT}/registries`, { id: 'r3', name: `${PARENT}/registries/else` }],
    service: (a) => a.createDeviceRegistry(ADMIN, { parent: PARENT, deviceRegistry: { id: 'r3', name: `${PARENT}/registries/else` } }),
  },
  {
    name: 'registry update with an unknown mask path',
    rest: ['PATCH', `/v1/${REG}?updateMask=id`, { logLevel: 'DEBUG' }],
    service: (a) => a.updateDeviceRegistry(ADMIN, { name: REG, deviceRegistry: { logLevel: 'DEBUG' }, updateMask: ['id'] }),
  },
  {
    name: 'device with a name on create',
    rest: ['POST', `/v1/${REG}/devices`, { id: 'd2', name: 'x' }],
    service: (a) => a.createDevice(ADMIN, { parent: REG, device: { id: 'd2', name: 'x' } }),
  },
  {
    name: 'device with a numId on create',
    rest: ['POST', `/v1/${REG}/devices`, { id: 'd2', numId: '5' }],
    service: (a) => a.createDevice(ADMIN, { parent: REG, device: { id: 'd2', numId: '5' } }),
  },
  {
    name: 'credential without a format',
    rest: ['POST', `/v1/${REG}/devices`, { id: 'd2', credentials: [{ publicKey: { key: PEM } }] }],
    service: (a) => a.createDevice(ADMIN, { parent: REG, device: { id: 'd2', credentials: [{ publicKey: { key: PEM } }] } }),
  },
  {
    name: 'second credential without a key',
    rest: ['POST', `/v1/${REG}/devices`, { id: 'd2', credentials: [{ publicKey: { format: 'ES256_PEM', key: PEM } }, { publicKey: { format: 'RSA_PEM' } }] }],
    service: (a) =>
      a.createDevice(ADMIN, { parent: REG, device: { id: 'd2', credentials: [{ publicKey: { format: 'ES256_PEM', key: PEM } }, { publicKey: { format: 'RSA_PEM' } }] } }),
  },
  {
    name: 'metadata key starting with a digit',
    rest: ['POST', `/v1/${REG}/devices`, { id: 'd2', metadata: { '1bad': 'v' } }],
    service: (a) => a.createDevice(ADMIN, { parent: REG, device: { id: 'd2', metadata: { '1bad': 'v' } } }),
  },
  {
    name: 'device update without a mask',
    rest: ['PATCH', `/v1/${DEV}`, { blocked: true }],
    service: (a) => a.updateDevice(ADMIN, { name: DEV, device: { blocked: true } }),
  },
  {
    name: 'get with an unknown field mask path',
    rest: ['GET', `/v1/${DEV}?fieldMask=nope`],
    service: (a) => a.getDevice(ADMIN, { name: DEV, fieldMask: ['nope'] }),
  },
  {
    name: 'list with a forged page token',
    rest: ['GET', `/v1/${REG}/devices?pageToken=forged`],
    service: (a) => a.listDevices(ADMIN, { parent: REG, pageToken: 'forged' }),
  },
  {
    name: 'list with two gateway options',
    rest: ['GET', `/v1/${REG}/devices?gatewayListOptions.gatewayType=GATEWAY&gatewayListOptions.associationsGatewayId=gw`],
    service: (a) => a.listDevices(ADMIN, { parent: REG, gatewayListOptions: { gatewayType: 'GATEWAY', associationsGatewayId: 'gw' } }),
  },
  {
    name: 'config without binary_data',
    rest: ['POST', `/v1/${DEV}:modifyCloudToDeviceConfig`, {}],
    service: (a) => a.modifyCloudToDeviceConfig(ADMIN, { name: DEV }),
  },
  {
    name: 'config with a stale version',
    rest: ['POST', `/v1/${DEV}:modifyCloudToDeviceConfig`, { versionToUpdate: '7', binaryData: 'AA==' }],
    service: (a) => a.modifyCloudToDeviceConfig(ADMIN, { name: DEV, versionToUpdate: 7, binaryData: new Uint8Array([0]) }),
  },
  {
    name: 'command with a wildcard subfolder',
    rest: ['POST', `/v1/${DEV}:sendCommandToDevice`, { binaryData: 'AA==', subfolder: 'a/#' }],
    service: (a) => a.sendCommandToDevice(ADMIN, { name: DEV, binaryData: new Uint8Array([0]), subfolder: 'a/#' }),
  },
  {
    name: 'command to a device that is not connected',
    rest: ['POST', `/v1/${DEV}:sendCommandToDevice`, { binaryData: 'AA==' }],
    service: (a) => a.sendCommandToDevice(ADMIN, { name: DEV, binaryData: new Uint8Array([0]) }),
  },
  {
    name: 'bind without a device_id',
    rest: ['POST', `/v1/${REG}:bindDeviceToGateway`, { gatewayId: 'dev-1' }],
    service: (a) => a.bindDeviceToGateway(ADMIN, { parent: REG, gatewayId: 'dev-1' }),
  },
  {
    name: 'bind to a device that is not a gateway',
    rest: ['POST', `/v1/${REG}:bindDeviceToGateway`, { gatewayId: 'dev-1', deviceId: 'dev-1' }],
    service: (a) => a.bindDeviceToGateway(ADMIN, { parent: REG, gatewayId: 'dev-1', deviceId: 'dev-1' }),
  },
  {
    name: 'IAM policy of version 2',
    rest: ['POST', `/v1/${REG}:setIamPolicy`, { policy: { version: 2 } }],
    service: (a) => a.setIamPolicy(ADMIN, { resource: REG, policy: { version: 2 } }),
  },
  {
    name: 'IAM binding without a role',
    rest: ['POST', `/v1/${REG}:setIamPolicy`, { policy: { bindings: [{ members: ['user:a@example.com'] }] } }],
    service: (a) => a.setIamPolicy(ADMIN, { resource: REG, policy: { bindings: [{ members: ['user:a@example.com'] }] } }),
  },
  {
    name: 'unknown device',
    rest: ['GET', `/v1/${REG}/devices/ghost`],
    service: (a) => a.getDevice(ADMIN, { name: `${REG}/devices/ghost` }),
  },
  {
    name: 'unknown registry',
    rest: ['DELETE', `/v1/${PARENT}/registries/ghost`],
    service: (a) => a.deleteDeviceRegistry(ADMIN, { name: `${PARENT}/registries/ghost` }),
  },
];

describe('validation errors are identical through REST and through the service', () => {
  let server: StartedServer;
  let admin: DeviceAdmin;

  before(async () => {
    server = await startServer();
    // The same starting point on both sides: one registry, one plain device.
    assert.equal((await api(server, 'POST', `/v1/${PARENT}/registries`, { id: 'reg' })).status, 200);
    assert.equal((await api(server, 'POST', `/v1/${REG}/devices`, { id: 'dev-1' })).status, 200);
    const offline = {
      send: async (): Promise<void> => {
        throw new ApiError('FAILED_PRECONDITION', 'Device "dev-1" is not connected.', { reason: 'DEVICE_NOT_CONNECTED' });
      },
    };
    admin = new DeviceAdmin(new MemoryStore(), new NodeKeyInspector(), { now: () => Date.now() }, { publish: async () => undefined }, offline, new ApiAuth('t'));
    await admin.createDeviceRegistry(ADMIN, { parent: PARENT, deviceRegistry: { id: 'reg' } });
    await admin.createDevice(ADMIN, { parent: REG, device: { id: 'dev-1' } });
  });
  after(async () => {
    await server.cleanup();
  });

  for (const c of CASES) {
    it(c.name, async () => {
      const [method, path, body] = c.rest;
      const rest = await restOutcome(server, method, path, body);
      const direct = await serviceOutcome(c.service(admin));
      assert.notEqual(direct.status, 'OK', 'each case is a refusal');
      assert.deepEqual(rest, direct);
    });
  }
});
