import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Json, JsonObject } from '../../../src/adapters/rest/json-read.js';
import { checkMessageJson } from '../../../src/adapters/rest/proto-json-check.js';
import {
  DEVICE,
  DEVICE_REGISTRY,
  SET_IAM_POLICY_REQUEST,
  SEND_COMMAND_TO_DEVICE_REQUEST,
  BIND_DEVICE_TO_GATEWAY_REQUEST,
} from '../../../src/adapters/rest/proto-json-fields.js';
import { invalidOn } from '../../support/assertions.js';

const device = (body: JsonObject): JsonObject => checkMessageJson(body, DEVICE, 'device');
const parsed = (text: string): JsonObject => JSON.parse(text) as JsonObject;

describe('checkMessageJson: spellings', () => {
  test('snake_case and camelCase names both arrive as camelCase, at every depth and in lists', () => {
    const out = checkMessageJson(
      {
        id: 'r',
        event_notification_configs: [{ pubsub_topic_name: 't', subfolderMatches: 's' }],
        stateNotificationConfig: { pubsub_topic_name: 'u' },
        log_level: 'INFO',
        credentials: [{ public_key_certificate: { format: 'X509_CERTIFICATE_PEM', certificate: 'c', x509_details: { start_time: '2020-01-01T00:00:00Z' } } }],
      },
      DEVICE_REGISTRY,
      'device_registry',
    );
    assert.deepEqual(out, {
      id: 'r',
      eventNotificationConfigs: [{ pubsubTopicName: 't', subfolderMatches: 's' }],
      stateNotificationConfig: { pubsubTopicName: 'u' },
      logLevel: 'INFO',
      credentials: [{ publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: 'c', x509Details: { startTime: '2020-01-01T00:00:00Z' } } }],
    });
  });

  test('map keys are user data: never renamed', () => {
    assert.deepEqual(device({ metadata: { serial_no: '1', fooBar: '2' }, gateway_config: { gateway_type: 'GATEWAY' } }), {
      metadata: { serial_no: '1', fooBar: '2' },
      gatewayConfig: { gatewayType: 'GATEWAY' },
    });
  });

  test('one field in both spellings is refused as given twice', () => {
    assert.throws(
      () => device({ gateway_config: {}, gatewayConfig: {} }),
      invalidOn('device.gateway_config', /^Invalid JSON payload received\. Field 'device\.gateway_config' is given twice \(as "gateway_config" and "gatewayConfig"\)\.$/),
    );
    assert.throws(() => device({ credentials: [{ publicKey: {}, public_key: {} }] }), invalidOn('device.credentials[0].public_key', /given twice/));
  });

  test('only the proto name and the JSON name are known: other spellings are unknown', () => {
    for (const odd of ['GatewayConfig', 'gateway_Config', 'gatewayconfig', 'gateway-config']) {
      assert.throws(() => device({ [odd]: {} }), invalidOn('device', new RegExp(`Unknown name "${odd}" at 'device'`)), odd);
    }
  });
});

describe('checkMessageJson: unknown names', () => {
  test('at the top, with Google’s wording', () => {
    assert.throws(() => device({ id: 'd', foo: 1 }), invalidOn('device', /^Invalid JSON payload received\. Unknown name "foo" at 'device': Cannot find field\.$/));
  });

  test('in nested messages and list elements, naming where', () => {
    assert.throws(() => device({ config: { binary_data: '', foo: 1 } }), invalidOn('device.config', /Unknown name "foo" at 'device\.config'/));
    assert.throws(() => device({ credentials: [{}, { publicKey: { key: 'k', bits: 2048 } }] }), invalidOn('device.credentials[1].public_key', /Unknown name "bits"/));
    assert.throws(() => device({ lastErrorStatus: { code: 1, reason: 'x' } }), invalidOn('device.last_error_status', /Unknown name "reason"/));
  });

  test('in a body that is the whole request ("*"), without a place', () => {
    assert.throws(
      () => checkMessageJson({ binaryData: '', foo: 1 }, SEND_COMMAND_TO_DEVICE_REQUEST, ''),
      invalidOn('foo', /^Invalid JSON payload received\. Unknown name "foo": Cannot find field\.$/),
    );
  });

  test('__proto__, constructor and toString are unknown names, not inherited fields', () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      assert.throws(() => device(parsed(`{"${name}":{"id":"x"}}`)), invalidOn('device', new RegExp(`Unknown name "${name}"`)), name);
    }
  });

  test('a 100,000-character unknown name is quoted cut', () => {
    assert.throws(() => device({ ['x'.repeat(100_000)]: 1 }), (e: unknown) => e instanceof Error && e.message.length < 200);
  });
});

describe('checkMessageJson: output-only fields must be well typed (and are then passed on to be ignored)', () => {
  const bad: Array<[string, JsonObject, string]> = [
    ['state as a number', { state: 5 }, 'device.state'],
    ['state as a list', { state: [] }, 'device.state'],
    ['state.update_time as a number', { state: { updateTime: 5 } }, 'device.state.update_time'],
    ['state.binary_data not base64', { state: { binaryData: '%%%' } }, 'device.state.binary_data'],
    ['last_heartbeat_time as a number', { lastHeartbeatTime: 7 }, 'device.last_heartbeat_time'],
    ['last_event_time not a timestamp', { last_event_time: 'yesterday' }, 'device.last_event_time'],
    ['last_state_time as an object', { lastStateTime: { seconds: 1 } }, 'device.last_state_time'],
    ['last_config_ack_time as a list', { lastConfigAckTime: ['2020-01-01T00:00:00Z'] }, 'device.last_config_ack_time'],
    ['last_config_send_time as true', { lastConfigSendTime: true }, 'device.last_config_send_time'],
    ['last_error_time as a number', { lastErrorTime: 0 }, 'device.last_error_time'],
    ['last_error_status as a string', { lastErrorStatus: 'bad' }, 'device.last_error_status'],
    ['last_error_status.code as a string of letters', { lastErrorStatus: { code: 'nine' } }, 'device.last_error_status.code'],
    ['last_error_status.details without @type', { lastErrorStatus: { details: [{ a: 1 }] } }, 'device.last_error_status.details[0].@type'],
    ['num_id as letters', { numId: 'abc' }, 'device.num_id'],
    ['num_id negative', { num_id: -1 }, 'device.num_id'],
    ['num_id as an object', { numId: {} }, 'device.num_id'],
    ['name as a number', { name: 12 }, 'device.name'],
    ['name as a list', { name: ['x'] }, 'device.name'],
    ['config.cloud_update_time as a number', { config: { cloudUpdateTime: 1 } }, 'device.config.cloud_update_time'],
    ['config.device_ack_time not a timestamp', { config: { device_ack_time: '2020-13-45T00:00:00Z' } }, 'device.config.device_ack_time'],
    ['config.version as a fraction', { config: { version: 1.5 } }, 'device.config.version'],
    ['gateway_config.last_accessed_gateway_time as a list', { gatewayConfig: { lastAccessedGatewayTime: [] } }, 'device.gateway_config.last_accessed_gateway_time'],
    ['gateway_config.last_accessed_gateway_id as a number', { gatewayConfig: { lastAccessedGatewayId: 3 } }, 'device.gateway_config.last_accessed_gateway_id'],
    ['credentials[].expiration_time as a number', { credentials: [{ expirationTime: 3 }] }, 'device.credentials[0].expiration_time'],
  ];
  for (const [what, body, field] of bad) {
    test(`device: ${what}`, () => {
      assert.throws(() => device(body), invalidOn(field, /^Invalid value at '/));
    });
  }

  test('registry: x509_details of a credential, and name', () => {
    const reg = (body: JsonObject): JsonObject => checkMessageJson(body, DEVICE_REGISTRY, 'device_registry');
    const cert = (x509: Json): JsonObject => ({ credentials: [{ publicKeyCertificate: { certificate: 'c', x509Details: x509 } }] });
    const at = 'device_registry.credentials[0].public_key_certificate.x509_details';
    assert.throws(() => reg(cert('x')), invalidOn(at));
    assert.throws(() => reg(cert({ startTime: 5 })), invalidOn(`${at}.start_time`));
    assert.throws(() => reg(cert({ expiry_time: 'soon' })), invalidOn(`${at}.expiry_time`));
    assert.throws(() => reg(cert({ issuer: ['CN=x'] })), invalidOn(`${at}.issuer`));
    assert.throws(() => reg(cert({ publicKeyType: 1 })), invalidOn(`${at}.public_key_type`));
    assert.throws(() => reg({ name: 7 }), invalidOn('device_registry.name'));
  });

  test('well-typed output-only values pass through unchanged (a fetched device sent back)', () => {
    const fetched = {
      name: 'projects/p/locations/l/registries/r/devices/d',
      numId: '2000000000000001',
      lastHeartbeatTime: '2024-01-01T00:00:00Z',
      last_event_time: '2024-01-01T00:00:00.123456789+02:00',
      lastErrorStatus: { code: 9, message: 'x', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'r' }] },
      config: { version: '3', cloudUpdateTime: '2024-01-01T00:00:00Z', binaryData: 'AA==' },
      state: { updateTime: '2024-01-01T00:00:00Z', binaryData: '' },
      gatewayConfig: { lastAccessedGatewayId: 'gw', lastAccessedGatewayTime: '2024-01-01T00:00:00Z' },
    };
    const { last_event_time: lastEventTime, ...rest } = fetched;
    assert.deepEqual(device(fetched), { ...rest, lastEventTime });
  });

  test('numbers and decimal strings both pass for int64/uint64; null is the default for any field', () => {
    assert.deepEqual(device({ numId: 12, config: { version: 3 } }), { numId: 12, config: { version: 3 } });
    assert.deepEqual(device({ state: null, name: null, credentials: null, metadata: null }), { state: null, name: null, credentials: null, metadata: null });
  });

  test('null inside a list is refused', () => {
    assert.throws(() => checkMessageJson({ policy: { bindings: [{ role: 'r', members: ['a', null] }] } }, SET_IAM_POLICY_REQUEST, ''), invalidOn('policy.bindings[0].members[1]', /cannot be null/));
    assert.throws(() => device({ credentials: [null] }), invalidOn('device.credentials[0]'));
  });
});

describe('checkMessageJson: input fields keep the readers’ leniency', () => {
  test('enums by name, number or numeric string; bools as strings; bind IDs as numIds', () => {
    assert.doesNotThrow(() => device({ logLevel: 40, gatewayConfig: { gatewayType: '1', gatewayAuthMethod: 'ASSOCIATION_ONLY' }, blocked: 'true' }));
    assert.deepEqual(checkMessageJson({ gatewayId: 2000000000000001, device_id: 'd' }, BIND_DEVICE_TO_GATEWAY_REQUEST, ''), { gatewayId: 2000000000000001, deviceId: 'd' });
    assert.throws(() => checkMessageJson({ gatewayId: true }, BIND_DEVICE_TO_GATEWAY_REQUEST, ''), invalidOn('gateway_id'));
  });

  test('a wrong type of an input field is named as the readers name it', () => {
    assert.throws(() => device({ id: 5 }), invalidOn('device.id', /expected a string/));
    assert.throws(() => device({ logLevel: 'LOUD' }), invalidOn('device.log_level', /is not one of/));
    assert.throws(() => device({ metadata: { a: 1 } }), invalidOn('device.metadata.a', /expected a string/));
    assert.throws(() => device({ metadata: [] }), invalidOn('device.metadata', /expected an object/));
  });
});

describe('checkMessageJson: shape of the walk', () => {
  test('the result shares no object with the input (the readers cannot reach a prototype through it)', () => {
    const input = parsed('{"config":{"version":"1"},"metadata":{"__proto__":"x"}}');
    const out = device(input);
    assert.notEqual(out.config, input.config);
    assert.notEqual(out.metadata, input.metadata);
    assert.deepEqual(Object.keys(out.metadata as object), ['__proto__']);
    assert.equal(Object.getPrototypeOf(out.metadata), Object.prototype);
  });

  test('a wide body (10,000 credentials) is walked without recursion', () => {
    const credentials = Array.from({ length: 10_000 }, () => ({ publicKey: { format: 'ES256_PEM', key: 'k' } }));
    assert.equal((device({ credentials }).credentials as unknown[]).length, 10_000);
  });
});
