import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deviceManagerDefinition } from '../../../src/adapters/grpc/protos.js';
import {
  configProto,
  deviceListProto,
  deviceProto,
  deviceViewProto,
  policyProto,
  registryProto,
  timestamp,
  type Message,
} from '../../../src/adapters/grpc/resource-messages.js';
import { configJson, deviceJson, policyJson, registryJson } from '../../../src/adapters/rest/resource-json.js';
import type { Device, Registry } from '../../../src/domain/model.js';
import { configV1, deviceInput, gatewayConfig } from '../../support/devices.js';

const T = Date.UTC(2023, 4, 6, 7, 8, 9, 10);
const KEY = { project: 'p', location: 'us-central1', registry: 'reg-1' };
const PEM = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';
const NAMES = { enumsAsInt: false };

function bareDevice(over: Partial<Device> = {}): Device {
  return {
    numId: '2000000000000001',
    revision: 1,
    ...deviceInput(KEY, 'dev-1', configV1(T), { gatewayConfig: gatewayConfig('GATEWAY_TYPE_UNSPECIFIED', 'GATEWAY_AUTH_METHOD_UNSPECIFIED') }),
    ...over,
  };
}

const fullDevice = (): Device =>
  bareDevice({
    credentials: [
      { format: 'ES256_PEM', key: PEM, expirationTime: 0 },
      { format: 'RSA_X509_PEM', key: 'CERT', expirationTime: T },
    ],
    blocked: true,
    logLevel: 'DEBUG',
    metadata: { serial_no: 'A1' },
    gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY', lastAccessedGatewayId: 'gw-9', lastAccessedGatewayTime: T },
    config: { version: 12, cloudUpdateTime: T, deviceAckTime: T + 1, binaryData: new Uint8Array([0, 1]) },
    state: { updateTime: T + 2, binaryData: new Uint8Array([255]) },
    lastHeartbeatTime: T + 3,
    lastEventTime: T + 4,
    lastStateTime: T + 5,
    lastConfigAckTime: T + 6,
    lastConfigSendTime: T + 7,
    lastErrorTime: T + 8,
    lastErrorStatus: { code: 16, message: 'mqtt: SERVER: token expired' },
  });

const fullRegistry = (): Registry => ({
  ...KEY,
  revision: 1,
  eventNotificationConfigs: [
    { pubsubTopicName: 'projects/p/topics/a', subfolderMatches: 'alerts' },
    { pubsubTopicName: 'projects/p/topics/b', subfolderMatches: '' },
  ],
  stateNotificationConfig: { pubsubTopicName: 'projects/p/topics/s' },
  mqttEnabledState: 'MQTT_DISABLED',
  httpEnabledState: 'HTTP_STATE_UNSPECIFIED',
  logLevel: 'ERROR',
  credentials: [
    {
      format: 'X509_CERTIFICATE_PEM',
      certificate: 'CERT',
      x509Details: { issuer: 'CN=ca', subject: 'CN=ca', startTime: 0, expiryTime: T, signatureAlgorithm: 'ecdsa-with-SHA256', publicKeyType: 'EC' },
    },
  ],
});

/**
 * A response message in proto3 JSON form (Timestamps as RFC 3339, bytes as base64): what the REST
 * edge answers for the same resource, if the two edges agree.
 */
function asJson(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v.map(asJson);
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Message;
  if (Object.keys(o).length === 2 && typeof o.seconds === 'number' && typeof o.nanos === 'number') {
    return new Date(o.seconds * 1000 + o.nanos / 1e6).toISOString();
  }
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, asJson(x)]));
}

/** Encoded and decoded as a client would (proto-loader, defaults not filled in). */
function overTheWire(method: string, message: Message): unknown {
  const def = deviceManagerDefinition()[method]!;
  return def.responseDeserialize(def.responseSerialize(message));
}

describe('response messages say what the REST JSON says', () => {
  test('devices, bare and with every field set', () => {
    for (const d of [bareDevice(), fullDevice()]) assert.deepEqual(asJson(deviceProto(d)), deviceJson(d, NAMES));
  });

  test('registries, bare and with every field set (an explicitly unspecified state echoed as an empty config)', () => {
    const bare: Registry = { ...fullRegistry(), eventNotificationConfigs: [], stateNotificationConfig: undefined, mqttEnabledState: undefined, httpEnabledState: undefined, logLevel: 'LOG_LEVEL_UNSPECIFIED', credentials: [] };
    for (const r of [bare, fullRegistry()]) assert.deepEqual(asJson(registryProto(r)), registryJson(r, NAMES));
    assert.deepEqual(registryProto(fullRegistry()).httpConfig, {});
  });

  test('configs and policies', () => {
    const c = { version: 3, cloudUpdateTime: T, deviceAckTime: undefined, binaryData: new Uint8Array(0) };
    assert.deepEqual(asJson(configProto(c)), configJson(c));
    const p = { version: 0, bindings: [{ role: 'roles/cloudiot.viewer', members: ['user:a@example.com'] }], etag: new Uint8Array([0x41, 0x43, 0x41, 0x42]) };
    assert.deepEqual(asJson(policyProto(p)), policyJson(p));
  });
});

describe('proto specifics', () => {
  test('Timestamps split into seconds and nanos, sub-second part in nanos', () => {
    assert.deepEqual(timestamp(T), { seconds: Math.floor(T / 1000), nanos: 10_000_000 });
    assert.deepEqual(timestamp(0), { seconds: 0, nanos: 0 });
  });

  test('a full device survives the wire: int64 as strings, bytes as Buffers, enums by name', () => {
    const got = overTheWire('GetDevice', deviceProto(fullDevice())) as Message;
    assert.equal(got.numId, '2000000000000001');
    assert.deepEqual(got.config, {
      version: '12',
      cloudUpdateTime: { seconds: String(Math.floor(T / 1000)), nanos: 10_000_000 },
      deviceAckTime: { seconds: String(Math.floor(T / 1000)), nanos: 11_000_000 },
      binaryData: Buffer.from([0, 1]),
    });
    assert.deepEqual(got.credentials, [
      { publicKey: { format: 'ES256_PEM', key: PEM }, expirationTime: { seconds: '0', nanos: 0 } },
      { publicKey: { format: 'RSA_X509_PEM', key: 'CERT' }, expirationTime: { seconds: String(Math.floor(T / 1000)), nanos: 10_000_000 } },
    ]);
    assert.equal(got.logLevel, 'DEBUG');
    assert.deepEqual(got.lastErrorStatus, { code: 16, message: 'mqtt: SERVER: token expired' });
  });

  test('a field mask selects whole Timestamps and bytes, as REST selects their strings', () => {
    const view = deviceViewProto({ device: fullDevice(), fields: ['metadata', 'lastEventTime.seconds', 'config.binaryData.x', 'gatewayConfig.gatewayType'] });
    assert.deepEqual(view, {
      metadata: { serial_no: 'A1' },
      lastEventTime: timestamp(T + 4),
      config: { binaryData: Buffer.from([0, 1]) },
      gatewayConfig: { gatewayType: 'GATEWAY' },
    });
    assert.deepEqual(deviceViewProto({ device: bareDevice(), fields: undefined }), deviceProto(bareDevice()));
  });

  test('lists project each device onto the fields the service names, and omit an empty page token', () => {
    assert.deepEqual(deviceListProto({ devices: [fullDevice()], fields: ['id', 'name', 'numId', 'blocked'], nextPageToken: '' }), {
      devices: [{ id: 'dev-1', name: 'projects/p/locations/us-central1/registries/reg-1/devices/2000000000000001', numId: '2000000000000001', blocked: true }],
    });
    assert.deepEqual(deviceListProto({ devices: [], fields: ['id'], nextPageToken: 'next' }), { nextPageToken: 'next' });
  });
});
