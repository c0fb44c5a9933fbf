import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from '../../../src/domain/errors.js';
import type { Device, Registry } from '../../../src/domain/model.js';
import {
  configJson,
  deviceJson,
  policyJson,
  readDeviceMessage,
  readPolicyMessage,
  readRegistryMessage,
  registryJson,
  stateJson,
} from '../../../src/adapters/rest/resource-json.js';
import { invalidOn } from '../../support/assertions.js';
import { configV1, deviceInput, gatewayConfig } from '../../support/devices.js';

const NAMES = { enumsAsInt: false };
const INTS = { enumsAsInt: true };
const T = Date.UTC(2023, 4, 6, 7, 8, 9, 10);
const KEY = { project: 'p', location: 'us-central1', registry: 'reg-1' };
const PEM = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';

/** A device with every field at its proto3 default, as a freshly created plain device is. */
function bareDevice(over: Partial<Device> = {}): Device {
  return {
    numId: '2000000000000001',
    revision: 1,
    ...deviceInput(KEY, 'dev-1', configV1(T), { gatewayConfig: gatewayConfig('GATEWAY_TYPE_UNSPECIFIED', 'GATEWAY_AUTH_METHOD_UNSPECIFIED') }),
    ...over,
  };
}

function bareRegistry(over: Partial<Registry> = {}): Registry {
  return {
    ...KEY,
    revision: 1,
    eventNotificationConfigs: [],
    stateNotificationConfig: undefined,
    mqttEnabledState: undefined,
    httpEnabledState: undefined,
    logLevel: 'LOG_LEVEL_UNSPECIFIED',
    credentials: [],
    ...over,
  };
}

describe('deviceJson (proto3 JSON output)', () => {
  test('defaults are omitted; numId and config.version are strings; the name ends with the numId', () => {
    assert.deepEqual(deviceJson(bareDevice(), NAMES), {
      id: 'dev-1',
      name: 'projects/p/locations/us-central1/registries/reg-1/devices/2000000000000001',
      numId: '2000000000000001',
      config: { version: '1', cloudUpdateTime: '2023-05-06T07:08:09.010Z' },
      gatewayConfig: {},
    });
  });

  test('every field set, enums by name; a never-expiring credential reports the epoch', () => {
    const d = bareDevice({
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
    const iso = (ms: number): string => new Date(ms).toISOString();
    assert.deepEqual(deviceJson(d, NAMES), {
      id: 'dev-1',
      name: 'projects/p/locations/us-central1/registries/reg-1/devices/2000000000000001',
      numId: '2000000000000001',
      credentials: [
        { publicKey: { format: 'ES256_PEM', key: PEM }, expirationTime: '1970-01-01T00:00:00.000Z' },
        { publicKey: { format: 'RSA_X509_PEM', key: 'CERT' }, expirationTime: '2023-05-06T07:08:09.010Z' },
      ],
      lastHeartbeatTime: iso(T + 3),
      lastEventTime: iso(T + 4),
      lastStateTime: iso(T + 5),
      lastConfigAckTime: iso(T + 6),
      lastConfigSendTime: iso(T + 7),
      blocked: true,
      lastErrorTime: iso(T + 8),
      lastErrorStatus: { code: 16, message: 'mqtt: SERVER: token expired' },
      config: { version: '12', cloudUpdateTime: iso(T), deviceAckTime: iso(T + 1), binaryData: 'AAE=' },
      state: { updateTime: iso(T + 2), binaryData: '/w==' },
      logLevel: 'DEBUG',
      metadata: { serial_no: 'A1' },
      gatewayConfig: {
        gatewayType: 'GATEWAY',
        gatewayAuthMethod: 'ASSOCIATION_ONLY',
        lastAccessedGatewayId: 'gw-9',
        lastAccessedGatewayTime: iso(T),
      },
    });
  });

  test('enumsAsInt gives proto numbers, including LogLevel 10/20/30/40 and PublicKeyFormat 1..4', () => {
    const levels = { NONE: 10, ERROR: 20, INFO: 30, DEBUG: 40 } as const;
    for (const [name, num] of Object.entries(levels)) {
      assert.equal(deviceJson(bareDevice({ logLevel: name as keyof typeof levels }), INTS).logLevel, num);
    }
    const formats = ['RSA_X509_PEM', 'ES256_PEM', 'RSA_PEM', 'ES256_X509_PEM'] as const;
    const json = deviceJson(bareDevice({ credentials: formats.map((format) => ({ format, key: 'k', expirationTime: 0 })) }), INTS);
    assert.deepEqual(
      (json.credentials as { publicKey: { format: number } }[]).map((c) => c.publicKey.format),
      [1, 2, 3, 4],
    );
    const gw = deviceJson(bareDevice({ gatewayConfig: { ...bareDevice().gatewayConfig, gatewayType: 'NON_GATEWAY', gatewayAuthMethod: 'ASSOCIATION_AND_DEVICE_AUTH_TOKEN' } }), INTS);
    assert.deepEqual(gw.gatewayConfig, { gatewayType: 2, gatewayAuthMethod: 3 });
  });

  test('a zero error status counts as "no error" and is omitted', () => {
    assert.equal(deviceJson(bareDevice({ lastErrorStatus: { code: 0, message: '' } }), NAMES).lastErrorStatus, undefined);
  });

  test('the output does not alias the device’s metadata', () => {
    const d = bareDevice({ metadata: { a: 'b' } });
    (deviceJson(d, NAMES).metadata as Record<string, string>).a = 'changed';
    assert.equal(d.metadata.a, 'b');
  });
});

describe('registryJson', () => {
  test('defaults omitted: never-set mqtt/http configs are absent (docs/compat.md C-REG-ECHO)', () => {
    assert.deepEqual(registryJson(bareRegistry(), NAMES), { id: 'reg-1', name: 'projects/p/locations/us-central1/registries/reg-1' });
  });

  test('set fields by name and by number', () => {
    const r = bareRegistry({
      eventNotificationConfigs: [
        { pubsubTopicName: 'projects/p/topics/a', subfolderMatches: 'alerts' },
        { pubsubTopicName: 'projects/p/topics/b', subfolderMatches: '' },
      ],
      stateNotificationConfig: { pubsubTopicName: 'projects/p/topics/s' },
      mqttEnabledState: 'MQTT_DISABLED',
      httpEnabledState: 'HTTP_ENABLED',
      logLevel: 'ERROR',
    });
    const common = {
      id: 'reg-1',
      name: 'projects/p/locations/us-central1/registries/reg-1',
      eventNotificationConfigs: [{ pubsubTopicName: 'projects/p/topics/a', subfolderMatches: 'alerts' }, { pubsubTopicName: 'projects/p/topics/b' }],
      stateNotificationConfig: { pubsubTopicName: 'projects/p/topics/s' },
    };
    assert.deepEqual(registryJson(r, NAMES), { ...common, mqttConfig: { mqttEnabledState: 'MQTT_DISABLED' }, httpConfig: { httpEnabledState: 'HTTP_ENABLED' }, logLevel: 'ERROR' });
    assert.deepEqual(registryJson(r, INTS), { ...common, mqttConfig: { mqttEnabledState: 2 }, httpConfig: { httpEnabledState: 1 }, logLevel: 20 });
  });

  test('an explicitly unspecified state is echoed as an empty config object', () => {
    assert.deepEqual(registryJson(bareRegistry({ mqttEnabledState: 'MQTT_STATE_UNSPECIFIED' }), NAMES).mqttConfig, {});
  });

  test('registry certificates carry their x509 details with RFC 3339 times', () => {
    const r = bareRegistry({
      credentials: [
        {
          format: 'X509_CERTIFICATE_PEM',
          certificate: 'CERT',
          x509Details: { issuer: 'CN=ca', subject: 'CN=ca', startTime: 0, expiryTime: T, signatureAlgorithm: 'ecdsa-with-SHA256', publicKeyType: 'EC' },
        },
      ],
    });
    assert.deepEqual(registryJson(r, INTS).credentials, [
      {
        publicKeyCertificate: {
          format: 1,
          certificate: 'CERT',
          x509Details: {
            issuer: 'CN=ca',
            subject: 'CN=ca',
            startTime: '1970-01-01T00:00:00.000Z',
            expiryTime: '2023-05-06T07:08:09.010Z',
            signatureAlgorithm: 'ecdsa-with-SHA256',
            publicKeyType: 'EC',
          },
        },
      },
    ]);
  });
});

describe('configJson / stateJson / policyJson', () => {
  test('empty payloads are omitted, others are standard base64', () => {
    assert.deepEqual(configJson({ version: 3, cloudUpdateTime: 0, deviceAckTime: undefined, binaryData: new Uint8Array(0) }), {
      version: '3',
      cloudUpdateTime: '1970-01-01T00:00:00.000Z',
    });
    assert.deepEqual(stateJson({ updateTime: T, binaryData: new Uint8Array([0xfb, 0xff]) }), { updateTime: '2023-05-06T07:08:09.010Z', binaryData: '+/8=' });
  });

  test('policies: version 0 and empty bindings omitted; the etag is always present', () => {
    assert.deepEqual(policyJson({ version: 0, bindings: [], etag: new Uint8Array(0) }), { etag: '' });
    assert.deepEqual(policyJson({ version: 3, bindings: [{ role: 'roles/viewer', members: ['user:a@example.com'] }], etag: new Uint8Array([1, 2]) }), {
      version: 3,
      bindings: [{ role: 'roles/viewer', members: ['user:a@example.com'] }],
      etag: 'AQI=',
    });
  });
});

describe('readDeviceMessage / readRegistryMessage / readPolicyMessage (types only)', () => {
  test('a device body with enums by number, a string int64 and URL-safe bytes', () => {
    const msg = readDeviceMessage({
      id: 'dev-1',
      credentials: [{ publicKey: { format: 2, key: PEM }, expirationTime: '2030-01-01T02:00:00+02:00' }],
      logLevel: 40,
      blocked: 'true',
      metadata: { serial_no: 'x' },
      gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 1 },
      config: { version: '0', binaryData: '-_8' },
    });
    const binary = msg.config?.binaryData;
    assert.deepEqual(
      { ...msg, config: { version: msg.config?.version, binaryData: binary && [...binary] } },
      {
        id: 'dev-1',
        credentials: [{ publicKey: { format: 'ES256_PEM', key: PEM }, expirationTime: Date.UTC(2030, 0, 1) }],
        blocked: true,
        logLevel: 'DEBUG',
        metadata: { serial_no: 'x' },
        gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' },
        config: { version: 0, binaryData: [0xfb, 0xff] },
      },
    );
  });

  test('absent fields stay absent; the rules (name, numId, required keys) are the service\'s, not the decoder\'s', () => {
    assert.deepEqual(readDeviceMessage({ id: 'd', name: 'x', numId: '5', credentials: [{}] }), {
      id: 'd',
      name: 'x',
      numId: '5',
      credentials: [{}],
    });
    assert.deepEqual(readDeviceMessage(undefined), {});
  });

  test('wrong JSON types name their snake_case path', () => {
    const fails = (body: Parameters<typeof readDeviceMessage>[0], field: string): void => assert.throws(() => readDeviceMessage(body), invalidOn(field));
    fails({ credentials: [{ publicKey: { format: 'NOPE' } }] }, 'device.credentials[0].public_key.format');
    fails({ credentials: {} }, 'device.credentials');
    fails({ numId: 'abc' }, 'device.num_id');
    fails({ config: { binaryData: '***' } }, 'device.config.binary_data');
  });

  test('a registry body with enums by number; a bad enum names its snake_case path', () => {
    assert.deepEqual(
      readRegistryMessage(
        { id: 'r', mqttConfig: { mqttEnabledState: 2 }, httpConfig: { httpEnabledState: 'HTTP_ENABLED' }, logLevel: 10, eventNotificationConfigs: [{ pubsubTopicName: 't' }] },
        'device_registry',
      ),
      {
        id: 'r',
        eventNotificationConfigs: [{ pubsubTopicName: 't' }],
        mqttConfig: { mqttEnabledState: 'MQTT_DISABLED' },
        httpConfig: { httpEnabledState: 'HTTP_ENABLED' },
        logLevel: 'NONE',
      },
    );
    assert.throws(
      () => readRegistryMessage({ logLevel: 11 }, 'device_registry'),
      (e: unknown) => e instanceof ApiError && e.field === 'device_registry.log_level',
    );
  });

  test('readPolicyMessage reads the etag as bytes', () => {
    const msg = readPolicyMessage({ version: 1, bindings: [{ role: 'roles/owner', members: ['user:x@example.com'] }], etag: 'AQI=' });
    assert.deepEqual({ ...msg, etag: [...(msg.etag ?? [])] }, { version: 1, bindings: [{ role: 'roles/owner', members: ['user:x@example.com'] }], etag: [1, 2] });
    assert.throws(() => readPolicyMessage({ version: 'x' }), (e: unknown) => e instanceof ApiError && e.field === 'policy.version');
  });
});
