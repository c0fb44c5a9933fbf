import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkReadMask,
  DEVICE_FIELDS,
  parseDeviceUpdateMask,
  parseMask,
  parseRegistryUpdateMask,
  project,
  snakeToCamel,
} from '../../src/domain/field-mask.js';
import { invalidOn } from '../support/assertions.js';

describe('snakeToCamel / parseMask', () => {
  test('snake_case segments become camelCase; camelCase passes unchanged', () => {
    assert.equal(snakeToCamel('gateway_auth_method'), 'gatewayAuthMethod');
    assert.equal(snakeToCamel('last_config_ack_time'), 'lastConfigAckTime');
    assert.equal(snakeToCamel('lastConfigAckTime'), 'lastConfigAckTime');
    assert.equal(snakeToCamel('x509_details'), 'x509Details');
  });

  test('undefined and empty give no paths', () => {
    assert.deepEqual(parseMask(undefined), []);
    assert.deepEqual(parseMask(''), []);
    assert.deepEqual(parseMask([]), []);
    assert.deepEqual(parseMask([' , ', '']), []);
  });

  test('comma lists and repeated values are flattened, trimmed and normalised per dotted segment', () => {
    assert.deepEqual(parseMask('blocked, log_level,gateway_config.gateway_auth_method'), [
      'blocked',
      'logLevel',
      'gatewayConfig.gatewayAuthMethod',
    ]);
    assert.deepEqual(parseMask(['credentials', 'metadata,last_heartbeat_time']), ['credentials', 'metadata', 'lastHeartbeatTime']);
    assert.deepEqual(parseMask('gatewayConfig.gatewayType'), ['gatewayConfig.gatewayType']);
  });
});

describe('parseDeviceUpdateMask (spec §3.4)', () => {
  test('accepts every mutable device field in either spelling', () => {
    assert.deepEqual(
      [...parseDeviceUpdateMask('blocked,credentials,gateway_config.gateway_auth_method,log_level,metadata')],
      ['blocked', 'credentials', 'gatewayConfig.gatewayAuthMethod', 'logLevel', 'metadata'],
    );
    assert.deepEqual([...parseDeviceUpdateMask(['logLevel', 'gatewayConfig.gatewayAuthMethod'])], ['logLevel', 'gatewayConfig.gatewayAuthMethod']);
  });

  test('"gateway_config" is an alias of its auth method; duplicates collapse', () => {
    assert.deepEqual([...parseDeviceUpdateMask('gateway_config,gatewayConfig.gatewayAuthMethod,blocked,blocked')], [
      'gatewayConfig.gatewayAuthMethod',
      'blocked',
    ]);
  });

  test('a missing or empty mask is refused on update_mask', () => {
    assert.throws(() => parseDeviceUpdateMask(undefined), invalidOn('update_mask', /update_mask is required/));
    assert.throws(() => parseDeviceUpdateMask(''), invalidOn('update_mask', /the device\.$/));
  });

  test('immutable or unknown paths are refused, naming the path (docs/compat.md C-GW-DEFAULT)', () => {
    for (const bad of ['id', 'num_id', 'name', 'gateway_config.gateway_type', 'config', 'state', 'nonsense']) {
      assert.throws(
        () => parseDeviceUpdateMask(`blocked,${bad}`),
        invalidOn('update_mask', new RegExp(`^Invalid update_mask path "${snakeToCamel(bad).replace(/\./g, '\\.')}": only blocked, credentials`)),
        bad,
      );
    }
  });
});

describe('parseRegistryUpdateMask (docs/compat.md C-REG-MUTABLE)', () => {
  test('accepts the six mutable fields', () => {
    assert.deepEqual(
      [...parseRegistryUpdateMask('event_notification_configs,state_notification_config,mqtt_config,http_config,credentials,log_level')],
      ['eventNotificationConfigs', 'stateNotificationConfig', 'mqttConfig', 'httpConfig', 'credentials', 'logLevel'],
    );
  });

  test('the singular misspelling and the documented sub-paths map onto their top-level field', () => {
    assert.deepEqual([...parseRegistryUpdateMask('event_notification_config')], ['eventNotificationConfigs']);
    assert.deepEqual([...parseRegistryUpdateMask('mqtt_config.mqtt_enabled_state')], ['mqttConfig']);
    assert.deepEqual([...parseRegistryUpdateMask('httpConfig.httpEnabledState')], ['httpConfig']);
    assert.deepEqual([...parseRegistryUpdateMask('state_notification_config.pubsub_topic_name')], ['stateNotificationConfig']);
    assert.deepEqual([...parseRegistryUpdateMask('http_config,http_config.http_enabled_state')], ['httpConfig']);
  });

  test('id, name and other sub-paths are refused', () => {
    for (const bad of ['id', 'name', 'event_notification_configs.pubsub_topic_name', 'mqtt_config.other', 'credentials.public_key_certificate']) {
      assert.throws(() => parseRegistryUpdateMask(bad), invalidOn('update_mask', /can be updated on a registry\.$/), bad);
    }
    assert.throws(() => parseRegistryUpdateMask([]), invalidOn('update_mask', /of the registry\.$/));
  });
});

describe('checkReadMask', () => {
  test('known top-level fields (and their sub-paths) pass; unknown ones fail on the given field', () => {
    assert.doesNotThrow(() => checkReadMask(['config.version', 'gatewayConfig', 'numId'], DEVICE_FIELDS, 'field_mask'));
    assert.throws(() => checkReadMask(['id', 'bogus.x'], DEVICE_FIELDS, 'field_mask'), invalidOn('field_mask', /unknown field path "bogus\.x"/));
  });

  test('DEVICE_FIELDS lists the 17 Device fields of the JSON output', () => {
    assert.equal(DEVICE_FIELDS.length, 17);
    assert.ok(DEVICE_FIELDS.includes('lastConfigSendTime'));
  });
});

describe('project', () => {
  const device = {
    id: 'dev-1',
    name: 'projects/p/locations/l/registries/r/devices/2000000000000001',
    numId: '2000000000000001',
    blocked: true,
    config: { version: '3', cloudUpdateTime: '2023-01-01T00:00:00Z', binaryData: 'AAE=' },
    gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' },
    credentials: [{ publicKey: { format: 'ES256_PEM', key: 'k' } }],
    metadata: { site: 'north' },
  };

  test('always-fields come first and are only copied when present', () => {
    assert.deepEqual(project(device, [], ['id', 'name', 'numId', 'absent']), {
      id: 'dev-1',
      name: device.name,
      numId: '2000000000000001',
    });
  });

  test('top-level paths copy whole values, including arrays and maps', () => {
    assert.deepEqual(project(device, ['blocked', 'credentials', 'metadata'], []), {
      blocked: true,
      credentials: [{ publicKey: { format: 'ES256_PEM', key: 'k' } }],
      metadata: { site: 'north' },
    });
  });

  test('nested paths copy only the named leaves and merge siblings', () => {
    assert.deepEqual(project(device, ['config.version', 'config.binaryData', 'gatewayConfig.gatewayType'], ['id']), {
      id: 'dev-1',
      config: { version: '3', binaryData: 'AAE=' },
      gatewayConfig: { gatewayType: 'GATEWAY' },
    });
  });

  test('missing paths add nothing, not even an empty parent', () => {
    assert.deepEqual(project(device, ['state', 'config.deviceAckTime', 'lastEventTime'], []), {});
  });

  test('a path through a scalar or an array stops there and copies the value', () => {
    assert.deepEqual(project(device, ['blocked.deeper', 'credentials.publicKey'], []), {
      blocked: true,
      credentials: [{ publicKey: { format: 'ES256_PEM', key: 'k' } }],
    });
  });

  test('inherited properties are no fields: constructor, __proto__, toString name nothing', () => {
    assert.deepEqual(project(device, ['config.constructor', 'constructor', '__proto__', 'metadata.toString'], []), {});
  });

  test('the source object is not modified', () => {
    const before = structuredClone(device);
    project(device, ['config.version'], ['id']);
    assert.deepEqual(device, before);
  });
});
