import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEVICE_MASK_PATHS, deviceBody, REGISTRY_MASK_PATHS, registryBody, type ReadFile } from '../../src/cli/bodies.js';
import { buildUpdateMask } from '../../src/cli/flags.js';

const files: Record<string, string> = { 'ec.pem': 'EC PEM', 'rsa.pem': 'RSA PEM', 'ca.pem': 'CA PEM' };
const read: ReadFile = (path, what) => {
  const text = files[path];
  if (text === undefined) throw new Error(`cannot read ${what} ${path}`);
  return text;
};

describe('registry bodies', () => {
  test('every flag lands in its field', () => {
    const body = registryBody(
      {
        eventNotificationConfig: [{ pubsubTopicName: 't1' }, { pubsubTopicName: 'projects/x/topics/t2', subfolderMatches: 'sf' }],
        statePubsubTopic: 'st',
        enableMqttConfig: true,
        enableHttpConfig: false,
        logLevel: 'INFO',
        publicKeyPath: ['ca.pem'],
      },
      'p1',
      read,
    );
    assert.deepEqual(body, {
      eventNotificationConfigs: [{ pubsubTopicName: 'projects/p1/topics/t1' }, { pubsubTopicName: 'projects/x/topics/t2', subfolderMatches: 'sf' }],
      stateNotificationConfig: { pubsubTopicName: 'projects/p1/topics/st' },
      mqttConfig: { mqttEnabledState: 'MQTT_ENABLED' },
      httpConfig: { httpEnabledState: 'HTTP_DISABLED' },
      logLevel: 'INFO',
      credentials: [{ publicKeyCertificate: { format: 'X509_CERTIFICATE_PEM', certificate: 'CA PEM' } }],
    });
  });

  test('no flags, empty body; the mask follows the flags', () => {
    assert.deepEqual(registryBody({}, 'p', read), {});
    assert.deepEqual(buildUpdateMask({ enableHttpConfig: false, logLevel: 'DEBUG' }, REGISTRY_MASK_PATHS), ['httpConfig', 'logLevel']);
    assert.deepEqual(buildUpdateMask({ eventNotificationConfig: [], statePubsubTopic: 't', publicKeyPath: ['x'], enableMqttConfig: true }, REGISTRY_MASK_PATHS), [
      'eventNotificationConfigs',
      'stateNotificationConfig',
      'mqttConfig',
      'credentials',
    ]);
  });
});

describe('device bodies', () => {
  test('credentials, gateway config, metadata, blocked, log level', () => {
    const body = deviceBody(
      {
        publicKey: [
          { path: 'ec.pem', format: 'ES256_PEM' },
          { path: 'rsa.pem', format: 'RSA_X509_PEM', expirationTime: '2030-01-01T00:00:00Z' },
        ],
        deviceType: 'GATEWAY',
        authMethod: 'ASSOCIATION_ONLY',
        metadata: { a: '1' },
        blocked: true,
        logLevel: 'DEBUG',
      },
      read,
    );
    assert.deepEqual(body, {
      credentials: [
        { publicKey: { format: 'ES256_PEM', key: 'EC PEM' } },
        { publicKey: { format: 'RSA_X509_PEM', key: 'RSA PEM' }, expirationTime: '2030-01-01T00:00:00Z' },
      ],
      blocked: true,
      logLevel: 'DEBUG',
      metadata: { a: '1' },
      gatewayConfig: { gatewayType: 'GATEWAY', gatewayAuthMethod: 'ASSOCIATION_ONLY' },
    });
  });

  test('unblocking sends blocked:false; the auth method alone makes a gatewayConfig', () => {
    assert.deepEqual(deviceBody({ blocked: false }, read), { blocked: false });
    assert.deepEqual(deviceBody({ authMethod: 'DEVICE_AUTH_TOKEN_ONLY' }, read), { gatewayConfig: { gatewayAuthMethod: 'DEVICE_AUTH_TOKEN_ONLY' } });
  });

  test('update masks use the API paths; the device type is not updatable', () => {
    const paths = DEVICE_MASK_PATHS as Record<string, string>;
    assert.deepEqual(buildUpdateMask({ blocked: false, metadata: {}, logLevel: 'NONE', authMethod: 'X', publicKey: [], deviceType: 'GATEWAY' }, paths), [
      'credentials',
      'blocked',
      'metadata',
      'logLevel',
      'gatewayConfig.gatewayAuthMethod',
    ]);
  });

  test('an unreadable key file names the flag', () => {
    assert.throws(() => deviceBody({ publicKey: [{ path: 'missing.pem', format: 'RSA_PEM' }] }, read), /--public-key path missing\.pem/);
  });
});
