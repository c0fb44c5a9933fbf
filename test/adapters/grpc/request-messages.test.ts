import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deviceManagerDefinition, MalformedRequest } from '../../../src/adapters/grpc/protos.js';
import {
  createDeviceRegistryRequest,
  createDeviceRequest,
  getDeviceRequest,
  listDevicesRequest,
  modifyConfigRequest,
  sendCommandRequest,
  setIamPolicyRequest,
  timestampMs,
  updateDeviceRegistryRequest,
  updateDeviceRequest,
} from '../../../src/adapters/grpc/request-messages.js';
import { invalidOn } from '../../support/assertions.js';

/**
 * Request messages as the wire delivers them: each case is encoded with the service's own request
 * serializer (what a client sends) and decoded with the server's deserializer, so the shapes the
 * translation reads are the ones proto-loader really produces.
 */
const METHODS = deviceManagerDefinition();

function received<T>(method: string, message: object): T {
  const def = METHODS[method]!;
  return def.requestDeserialize(def.requestSerialize(message)) as T;
}

const PEM = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n';
const REG = 'projects/p/locations/us-central1/registries/reg';

describe('device requests', () => {
  test('every field of a device arrives typed for DeviceAdmin: enums by name, times in ms, int64 as needed', () => {
    const req = createDeviceRequest(
      received('CreateDevice', {
        parent: REG,
        device: {
          id: 'dev-1',
          credentials: [
            { publicKey: { format: 'ES256_PEM', key: PEM }, expirationTime: { seconds: 4102444800, nanos: 123_456_789 } },
            { publicKey: { format: 'RSA_X509_PEM', key: PEM } },
          ],
          blocked: true,
          logLevel: 'DEBUG',
          metadata: { floor: '3' },
          gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' },
          config: { version: 0, binaryData: Buffer.from('hi') },
        },
      }),
    );
    assert.deepEqual(req, {
      parent: REG,
      device: {
        id: 'dev-1',
        credentials: [
          { publicKey: { format: 'ES256_PEM', key: PEM }, expirationTime: 4102444800_123 },
          { publicKey: { format: 'RSA_X509_PEM', key: PEM } },
        ],
        blocked: true,
        logLevel: 'DEBUG',
        metadata: { floor: '3' },
        gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' },
        config: { version: 0, binaryData: Buffer.from('hi') },
      },
    });
  });

  test('fields absent from the wire are absent from the request: the service applies its defaults', () => {
    assert.deepEqual(createDeviceRequest(received('CreateDevice', { parent: REG, device: { id: 'dev-1' } })), { parent: REG, device: { id: 'dev-1' } });
    assert.deepEqual(createDeviceRequest(received('CreateDevice', {})), { device: {} });
  });

  test('numId stays a decimal string, so the service can refuse it on create', () => {
    const req = createDeviceRequest(received('CreateDevice', { parent: REG, device: { id: 'dev-1', numId: '18446744073709551615' } }));
    assert.equal(req.device?.numId, '18446744073709551615');
  });

  test('an enum number the proto does not define is refused naming its field', () => {
    assert.throws(() => createDeviceRequest(received('CreateDevice', { device: { logLevel: 99 } })), invalidOn('device.log_level', /99 is not one of/));
    assert.throws(
      () => createDeviceRequest(received('CreateDevice', { device: { credentials: [{}, { publicKey: { format: 7 } }] } })),
      invalidOn('device.credentials[1].public_key.format'),
    );
    assert.throws(
      () => createDeviceRegistryRequest(received('CreateDeviceRegistry', { deviceRegistry: { mqttConfig: { mqttEnabledState: 5 } } })),
      invalidOn('device_registry.mqtt_config.mqtt_enabled_state'),
    );
    assert.throws(() => listDevicesRequest(received('ListDevices', { gatewayListOptions: { gatewayType: 3 } })), invalidOn('gateway_list_options.gateway_type'));
  });

  test('updates carry the name inside the message and the mask paths as sent', () => {
    const name = `${REG}/devices/dev-1`;
    assert.deepEqual(updateDeviceRequest(received('UpdateDevice', { device: { name, blocked: false }, updateMask: { paths: ['blocked', 'log_level'] } })), {
      device: { name, blocked: false },
      updateMask: ['blocked', 'log_level'],
    });
    assert.deepEqual(
      updateDeviceRegistryRequest(received('UpdateDeviceRegistry', { deviceRegistry: { name: REG, logLevel: 'INFO' }, updateMask: { paths: ['log_level'] } })),
      { deviceRegistry: { name: REG, logLevel: 'INFO' }, updateMask: ['log_level'] },
    );
    // An empty mask is no mask: the service says update_mask is required.
    assert.deepEqual(updateDeviceRequest(received('UpdateDevice', { device: { name }, updateMask: { paths: [] } })), { device: { name } });
  });

  test('get and list: field masks, uint64 IDs as strings, gateway options', () => {
    assert.deepEqual(getDeviceRequest(received('GetDevice', { name: 'n', fieldMask: { paths: ['config', 'metadata'] } })), { name: 'n', fieldMask: ['config', 'metadata'] });
    assert.deepEqual(
      listDevicesRequest(
        received('ListDevices', {
          parent: REG,
          deviceNumIds: ['2000000000000001', '18446744073709551615'],
          deviceIds: ['a', 'b'],
          gatewayListOptions: { associationsGatewayId: 'gw-1' },
          pageSize: 5,
          pageToken: 't',
        }),
      ),
      {
        parent: REG,
        deviceNumIds: ['2000000000000001', '18446744073709551615'],
        deviceIds: ['a', 'b'],
        gatewayListOptions: { associationsGatewayId: 'gw-1' },
        pageSize: 5,
        pageToken: 't',
      },
    );
    // Inside a oneof a zero value has presence; the service reads GATEWAY_TYPE_UNSPECIFIED as "no filter".
    assert.deepEqual(listDevicesRequest(received('ListDevices', { gatewayListOptions: { gatewayType: 'GATEWAY_TYPE_UNSPECIFIED' } })), {
      gatewayListOptions: { gatewayType: 'GATEWAY_TYPE_UNSPECIFIED' },
    });
  });
});

describe('config, commands and IAM', () => {
  test('binary_data has no presence in proto3: missing reads as empty (C-GRPC-PRESENCE)', () => {
    assert.deepEqual(modifyConfigRequest(received('ModifyCloudToDeviceConfig', { name: 'n' })), { name: 'n', binaryData: Buffer.alloc(0) });
    assert.deepEqual(modifyConfigRequest(received('ModifyCloudToDeviceConfig', { name: 'n', binaryData: Buffer.alloc(0) })), { name: 'n', binaryData: Buffer.alloc(0) });
    assert.deepEqual(sendCommandRequest(received('SendCommandToDevice', { name: 'n', subfolder: 'sys' })), { name: 'n', binaryData: Buffer.alloc(0), subfolder: 'sys' });
  });

  test('version_to_update: int64 to a number; beyond 2^53 it is refused, negatives are left to the service', () => {
    assert.equal(modifyConfigRequest(received('ModifyCloudToDeviceConfig', { versionToUpdate: '7' })).versionToUpdate, 7);
    assert.equal(modifyConfigRequest(received('ModifyCloudToDeviceConfig', { versionToUpdate: '-1' })).versionToUpdate, -1);
    assert.throws(() => modifyConfigRequest(received('ModifyCloudToDeviceConfig', { versionToUpdate: '9223372036854775807' })), invalidOn('version_to_update'));
  });

  test('policies keep their bindings, conditions and etag', () => {
    const etag = Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual(
      setIamPolicyRequest(
        received('SetIamPolicy', {
          resource: REG,
          policy: { version: 3, etag, bindings: [{ role: 'roles/cloudiot.viewer', members: ['user:a@example.com'], condition: { expression: 'true', title: 't' } }, { role: 'r' }] },
        }),
      ),
      {
        resource: REG,
        policy: {
          version: 3,
          etag,
          bindings: [
            { role: 'roles/cloudiot.viewer', members: ['user:a@example.com'], condition: { expression: 'true', title: 't' } },
            { role: 'r', members: [] },
          ],
        },
      },
    );
  });
});

describe('wire facts', () => {
  test('Timestamps: milliseconds, the proto range, nanos 0..999999999', () => {
    assert.equal(timestampMs({ seconds: '1', nanos: 999_999_999 }, 'f'), 1999);
    assert.equal(timestampMs({}, 'f'), 0, 'an empty Timestamp is the epoch');
    assert.equal(timestampMs(undefined, 'f'), undefined);
    assert.equal(timestampMs({ seconds: '-62135596800' }, 'f'), -62135596800_000);
    assert.throws(() => timestampMs({ seconds: '253402300800' }, 'device.credentials[0].expiration_time'), invalidOn('device.credentials[0].expiration_time'));
    assert.throws(() => timestampMs({ seconds: '0', nanos: -1 }, 'f'), invalidOn('f'));
    assert.throws(() => timestampMs({ seconds: '0', nanos: 1_000_000_000 }, 'f'), invalidOn('f'));
  });

  test('bytes that are not a message of the method reach the handler as MalformedRequest, not an exception', () => {
    const decode = METHODS.CreateDevice!.requestDeserialize;
    // Field 2 (device) claims 16 bytes and brings 3.
    const truncated = decode(Buffer.from([0x12, 0x10, 0x01, 0x02, 0x03]));
    assert.ok(truncated instanceof MalformedRequest);
    assert.match(truncated.problem, /index out of range/);
    // A string field holding invalid wire type 7.
    assert.ok(decode(Buffer.from([0x0f])) instanceof MalformedRequest);
    // An empty message is a valid one.
    assert.deepEqual(decode(Buffer.alloc(0)), {});
  });

  test('the service definition has every DeviceManager method of the proto, under its gRPC path', () => {
    assert.deepEqual(Object.keys(METHODS).sort(), [
      'BindDeviceToGateway',
      'CreateDevice',
      'CreateDeviceRegistry',
      'DeleteDevice',
      'DeleteDeviceRegistry',
      'GetDevice',
      'GetDeviceRegistry',
      'GetIamPolicy',
      'ListDeviceConfigVersions',
      'ListDeviceRegistries',
      'ListDeviceStates',
      'ListDevices',
      'ModifyCloudToDeviceConfig',
      'SendCommandToDevice',
      'SetIamPolicy',
      'TestIamPermissions',
      'UnbindDeviceFromGateway',
      'UpdateDevice',
      'UpdateDeviceRegistry',
    ]);
    assert.equal(METHODS.GetDevice!.path, '/google.cloud.iot.v1.DeviceManager/GetDevice');
  });
});
