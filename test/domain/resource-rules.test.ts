import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DeviceCredential } from '../../src/domain/model.js';
import {
  checkDeviceCredentialCount,
  checkEventNotificationConfigs,
  checkPayloadSize,
  credentialNotVerified,
  isX509Format,
  newCredentialIndexes,
} from '../../src/domain/resource-rules.js';
import { assertApiError, invalidOn } from '../support/assertions.js';

const topic = (t: string): string => `projects/p/topics/${t}`;

describe('checkEventNotificationConfigs', () => {
  test('up to 10 configs pass; 11 fail on the list field', () => {
    const configs = (n: number) => Array.from({ length: n }, (_, i) => ({ pubsubTopicName: topic(`top${i}`), subfolderMatches: i === 0 ? '' : `sub${i}` }));
    assert.doesNotThrow(() => checkEventNotificationConfigs(configs(10), 'device_registry.event_notification_configs'));
    assert.throws(
      () => checkEventNotificationConfigs(configs(11), 'device_registry.event_notification_configs'),
      invalidOn('device_registry.event_notification_configs', /At most 10 event notification configs are allowed, got 11\./),
    );
  });

  test('a bad topic or subfolder names its index', () => {
    assert.throws(
      () =>
        checkEventNotificationConfigs(
          [
            { pubsubTopicName: topic('good'), subfolderMatches: '' },
            { pubsubTopicName: 'nope', subfolderMatches: '' },
          ],
          'f',
        ),
      invalidOn('f[1].pubsub_topic_name'),
    );
    assert.throws(
      () => checkEventNotificationConfigs([{ pubsubTopicName: topic('good'), subfolderMatches: '/lead' }], 'f'),
      invalidOn('f[0].subfolder_matches'),
    );
  });
});

const cred = (format: DeviceCredential['format'], key: string): DeviceCredential => ({ format, key, expirationTime: 0 });

describe('checkDeviceCredentialCount', () => {
  test('3 credentials pass, 4 fail', () => {
    const list = (n: number) => Array.from({ length: n }, (_, i) => cred('ES256_PEM', `k${i}`));
    assert.doesNotThrow(() => checkDeviceCredentialCount(list(3), 'device.credentials'));
    assert.throws(() => checkDeviceCredentialCount(list(4), 'device.credentials'), invalidOn('device.credentials', /at most 3 credentials, got 4\./));
  });
});

describe('isX509Format', () => {
  test('only the certificate formats', () => {
    assert.equal(isX509Format('RSA_X509_PEM'), true);
    assert.equal(isX509Format('ES256_X509_PEM'), true);
    assert.equal(isX509Format('RSA_PEM'), false);
    assert.equal(isX509Format('ES256_PEM'), false);
  });
});

describe('newCredentialIndexes (docs/compat.md C-CRED-CA)', () => {
  test('credentials identical in format and key (ignoring surrounding whitespace) are not new', () => {
    const previous = [cred('ES256_PEM', 'KEY-A\n'), cred('RSA_X509_PEM', 'CERT-B')];
    const next = [cred('RSA_X509_PEM', '  CERT-B'), cred('ES256_X509_PEM', 'KEY-A'), cred('ES256_PEM', 'KEY-A'), cred('RSA_PEM', 'KEY-C')];
    assert.deepEqual(newCredentialIndexes(next, previous), [1, 3]);
  });

  test('every credential is new on a device without credentials', () => {
    assert.deepEqual(newCredentialIndexes([cred('RSA_PEM', 'a'), cred('RSA_PEM', 'b')], []), [0, 1]);
    assert.deepEqual(newCredentialIndexes([], [cred('RSA_PEM', 'a')]), []);
  });
});

describe('credentialNotVerified', () => {
  test('PERMISSION_DENIED naming the credential index, as observed (spec §3.4)', () => {
    assertApiError(
      credentialNotVerified(2, 'the certificate has expired'),
      'PERMISSION_DENIED',
      'device.credentials[2]',
      'The credential at index 2 could not be verified against any certificate of the registry: the certificate has expired.',
    );
  });
});

describe('checkPayloadSize', () => {
  test('at the limit passes, one byte over fails naming field and sizes', () => {
    assert.doesNotThrow(() => checkPayloadSize(new Uint8Array(64), 64, 'binary_data', 'config'));
    assert.doesNotThrow(() => checkPayloadSize(new Uint8Array(0), 64, 'binary_data', 'config'));
    assert.throws(() => checkPayloadSize(new Uint8Array(65), 64, 'binary_data', 'config'), invalidOn('binary_data', /^The config is 65 bytes; at most 64 are allowed\.$/));
  });
});
