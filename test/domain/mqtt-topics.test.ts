import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { commandTopic, configTopic, errorsTopic, parsePublishTopic, parseSubscribeFilter, topicMatches } from '../../src/domain/mqtt-topics.js';

/** The MQTT bridge's topic grammar (spec §5.3, §6.5, §8.1). */

describe('parsePublishTopic', () => {
  test('events without and with subfolders; the subfolder is everything after events/, verbatim', () => {
    assert.deepEqual(parsePublishTopic('/devices/dev-1/events'), { kind: 'events', device: 'dev-1', subfolder: '' });
    assert.deepEqual(parsePublishTopic('/devices/dev-1/events/alerts'), { kind: 'events', device: 'dev-1', subfolder: 'alerts' });
    assert.deepEqual(parsePublishTopic('/devices/dev-1/events/a/b/c'), { kind: 'events', device: 'dev-1', subfolder: 'a/b/c' });
    assert.deepEqual(parsePublishTopic('/devices/dev-1/events/with space/~%'), { kind: 'events', device: 'dev-1', subfolder: 'with space/~%' });
  });

  test('state, attach and detach', () => {
    assert.deepEqual(parsePublishTopic('/devices/dev-1/state'), { kind: 'state', device: 'dev-1' });
    assert.deepEqual(parsePublishTopic('/devices/sensor.7+x/attach'), { kind: 'attach', device: 'sensor.7+x' });
    assert.deepEqual(parsePublishTopic('/devices/sensor-7/detach'), { kind: 'detach', device: 'sensor-7' });
  });

  for (const topic of [
    '',
    '/devices/',
    '/devices/dev-1',
    '/devices/dev-1/',
    'devices/dev-1/events',
    '/device/dev-1/events',
    '/devices/dev-1/event',
    '/devices/dev-1/eventsx',
    '/devices/dev-1/states',
    '/devices/dev-1/state/x',
    '/devices/dev-1/config',
    '/devices/dev-1/commands',
    '/devices/dev-1/commands/x',
    '/devices/dev-1/errors',
    '/devices/dev-1/events/+',
    '/devices/dev-1/events/a/#',
    '/devices/+/events',
    '/devices/#',
    '/devices/1dev/events',
    '/devices/ab/events',
    '/devices/goog-dev/events',
    '/devices//events',
    'projects/p/topics/telemetry',
  ]) {
    test(`refuses ${JSON.stringify(topic)}`, () => {
      assert.equal(parsePublishTopic(topic), undefined);
    });
  }
});

describe('parseSubscribeFilter', () => {
  test('config, errors and command filters', () => {
    assert.deepEqual(parseSubscribeFilter('/devices/dev-1/config'), { kind: 'config', device: 'dev-1' });
    assert.deepEqual(parseSubscribeFilter('/devices/gw-1/errors'), { kind: 'errors', device: 'gw-1' });
    for (const f of ['/devices/dev-1/commands/#', '/devices/dev-1/commands', '/devices/dev-1/commands/sys', '/devices/dev-1/commands/+/x', '/devices/dev-1/commands/a/#']) {
      assert.deepEqual(parseSubscribeFilter(f), { kind: 'commands', device: 'dev-1', filter: f }, f);
    }
  });

  for (const f of [
    '#',
    '+',
    '/devices/#',
    '/devices/+/config',
    '/devices/dev-1/#',
    '/devices/dev-1/+',
    '/devices/dev-1/config/#',
    '/devices/dev-1/commands/a#',
    '/devices/dev-1/commands/#/a',
    '/devices/dev-1/commands/a+',
    '/devices/dev-1/events',
    '/devices/dev-1/state',
    '/devices/goog/config',
    'devices/dev-1/config',
  ]) {
    test(`refuses ${JSON.stringify(f)}`, () => {
      assert.equal(parseSubscribeFilter(f), undefined);
    });
  }
});

describe('topicMatches', () => {
  const cases: [string, string, boolean][] = [
    ['/devices/d/commands/#', '/devices/d/commands', true],
    ['/devices/d/commands/#', '/devices/d/commands/a', true],
    ['/devices/d/commands/#', '/devices/d/commands/a/b', true],
    ['/devices/d/commands', '/devices/d/commands', true],
    ['/devices/d/commands', '/devices/d/commands/a', false],
    ['/devices/d/commands/a', '/devices/d/commands/a', true],
    ['/devices/d/commands/a', '/devices/d/commands/ab', false],
    ['/devices/d/commands/a', '/devices/d/commands', false],
    ['/devices/d/commands/+', '/devices/d/commands/a', true],
    ['/devices/d/commands/+', '/devices/d/commands/a/b', false],
    ['/devices/d/commands/+', '/devices/d/commands', false],
    ['/devices/d/commands/+/b', '/devices/d/commands/a/b', true],
    ['/devices/d/commands/a/#', '/devices/d/commands/a', true],
    ['/devices/d/commands/a/#', '/devices/d/commands/b', false],
  ];
  for (const [filter, topic, expected] of cases) {
    test(`${filter} ${expected ? 'matches' : 'does not match'} ${topic}`, () => {
      assert.equal(topicMatches(filter, topic), expected);
    });
  }
});

test('outbound topic builders', () => {
  assert.equal(configTopic('dev-1'), '/devices/dev-1/config');
  assert.equal(errorsTopic('gw-1'), '/devices/gw-1/errors');
  assert.equal(commandTopic('dev-1', ''), '/devices/dev-1/commands');
  assert.equal(commandTopic('dev-1', 'a/b'), '/devices/dev-1/commands/a/b');
});
