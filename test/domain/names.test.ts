import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkTopicName, isNumId, parseDeviceName, parseLocationName, parseRegistryName } from '../../src/domain/names.js';
import { invalidOn } from '../support/assertions.js';

describe('parseLocationName (spec §1.1)', () => {
  test('splits project and location', () => {
    assert.deepEqual(parseLocationName('projects/my-proj/locations/us-central1', 'parent'), { project: 'my-proj', location: 'us-central1' });
  });

  test('accepts domain-scoped project IDs', () => {
    assert.deepEqual(parseLocationName('projects/example.com:proj/locations/europe-west1', 'parent'), {
      project: 'example.com:proj',
      location: 'europe-west1',
    });
  });

  test('refuses wrong shapes and bad characters, naming the field and the input', () => {
    for (const bad of [
      '',
      'projects/p',
      'projects/p/locations/',
      'projects//locations/l',
      'projects/p/locations/l/',
      'project/p/locations/l',
      'projects/p/locations/l/registries/r',
      'projects/-p/locations/l',
      'projects/p/locations/us central1',
      'projects/p/locations/us:central1',
      `projects/${'p'.repeat(129)}/locations/l`,
    ]) {
      assert.throws(() => parseLocationName(bad, 'parent'), invalidOn('parent', /expected "projects\/\{project\}\/locations\/\{location\}"/), bad);
    }
    assert.doesNotThrow(() => parseLocationName(`projects/${'p'.repeat(128)}/locations/${'l'.repeat(63)}`, 'parent'));
    assert.throws(() => parseLocationName(`projects/p/locations/${'l'.repeat(64)}`, 'parent'), invalidOn('parent'));
  });
});

describe('parseRegistryName', () => {
  test('splits project, location and registry', () => {
    assert.deepEqual(parseRegistryName('projects/p1/locations/asia-east1/registries/reg-1', 'name'), {
      project: 'p1',
      location: 'asia-east1',
      registry: 'reg-1',
    });
  });

  test('refuses missing parts and trailing segments', () => {
    for (const bad of ['projects/p/locations/l/registries', 'projects/p/locations/l/registries/', 'projects/p/locations/l/registries/r/devices/d']) {
      assert.throws(() => parseRegistryName(bad, 'name'), invalidOn('name', /registries\/\{registry\}"/), bad);
    }
  });
});

describe('parseDeviceName', () => {
  test('keeps the device part as given: an ID or a numId', () => {
    assert.deepEqual(parseDeviceName('projects/p/locations/l/registries/r/devices/dev-1', 'name'), {
      registryKey: { project: 'p', location: 'l', registry: 'r' },
      device: 'dev-1',
    });
    assert.equal(parseDeviceName('projects/p/locations/l/registries/r/devices/2000000000000001', 'name').device, '2000000000000001');
  });

  test('refuses wrong shapes, and a bad registry part with the same field', () => {
    for (const bad of ['projects/p/locations/l/registries/r', 'projects/p/locations/l/registries/r/devices/', 'projects/p/locations/l/registries/r/devices/d/x']) {
      assert.throws(() => parseDeviceName(bad, 'name'), invalidOn('name', /devices\/\{device\}"/), bad);
    }
    assert.throws(() => parseDeviceName('projects/p p/locations/l/registries/r/devices/d', 'name'), invalidOn('name', /registries\/\{registry\}"/));
  });
});

describe('isNumId', () => {
  test('1 to 20 digits', () => {
    assert.equal(isNumId('0'), true);
    assert.equal(isNumId('2000000000000001'), true);
    assert.equal(isNumId('9'.repeat(20)), true);
    assert.equal(isNumId('9'.repeat(21)), false);
    assert.equal(isNumId(''), false);
    assert.equal(isNumId('12a'), false);
    assert.equal(isNumId('-1'), false);
    assert.equal(isNumId('dev-1'), false);
  });
});

describe('checkTopicName', () => {
  test('accepts Pub/Sub topic names', () => {
    for (const good of ['projects/p/topics/abc', 'projects/example.com:p/topics/t-._~%+9', `projects/p/topics/${'t'.repeat(255)}`]) {
      assert.doesNotThrow(() => checkTopicName(good, 'f'), good);
    }
  });

  test('refuses other shapes and topic IDs outside 3-255 characters starting with a letter', () => {
    for (const bad of ['nope', 'projects/p/topics/ab', 'projects/p/topics/1abc', `projects/p/topics/${'t'.repeat(256)}`, 'projects/p/subscriptions/abc', 'projects/p/topics/abc/x']) {
      assert.throws(() => checkTopicName(bad, 'event_notification_configs[0].pubsub_topic_name'), invalidOn('event_notification_configs[0].pubsub_topic_name', /Pub\/Sub topic name/), bad);
    }
  });
});
