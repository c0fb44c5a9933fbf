import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { messageAttributes, selectEventTopic } from '../../src/domain/event-routing.js';

/** Telemetry topic selection (spec §8.2) and message attributes (spec §8.1, U13). */

const A = 'projects/p/topics/alerts';
const D = 'projects/p/topics/default';
const X = 'projects/p/topics/x';

describe('selectEventTopic', () => {
  const configs = [
    { pubsubTopicName: A, subfolderMatches: 'alerts' },
    { pubsubTopicName: X, subfolderMatches: 'a/b' },
    { pubsubTopicName: D, subfolderMatches: '' },
  ];

  test('exact, case-sensitive subfolder match; everything else goes to the default', () => {
    assert.equal(selectEventTopic(configs, 'alerts'), A);
    assert.equal(selectEventTopic(configs, 'a/b'), X);
    assert.equal(selectEventTopic(configs, ''), D);
    assert.equal(selectEventTopic(configs, 'Alerts'), D);
    assert.equal(selectEventTopic(configs, 'alerts/high'), D);
    assert.equal(selectEventTopic(configs, '/alerts'), D);
    assert.equal(selectEventTopic(configs, 'a'), D);
  });

  test('first match wins: a default placed first takes everything', () => {
    assert.equal(selectEventTopic([{ pubsubTopicName: D, subfolderMatches: '' }, { pubsubTopicName: A, subfolderMatches: 'alerts' }], 'alerts'), D);
    assert.equal(
      selectEventTopic(
        [
          { pubsubTopicName: A, subfolderMatches: 'alerts' },
          { pubsubTopicName: X, subfolderMatches: 'alerts' },
        ],
        'alerts',
      ),
      A,
    );
  });

  test('no configs, or no match and no default: no route', () => {
    assert.equal(selectEventTopic([], ''), undefined);
    assert.equal(selectEventTopic([], 'alerts'), undefined);
    assert.equal(selectEventTopic([{ pubsubTopicName: A, subfolderMatches: 'alerts' }], ''), undefined);
    assert.equal(selectEventTopic([{ pubsubTopicName: A, subfolderMatches: 'alerts' }], 'other'), undefined);
  });
});

describe('messageAttributes', () => {
  const ids = { deviceId: 'dev-1', deviceNumId: '2000000000000001', registry: 'reg', location: 'us-central1', project: 'proj' };

  test('exactly the five identity attributes, with exact casing, and no subFolder without a subfolder', () => {
    assert.deepEqual(messageAttributes(ids, ''), {
      deviceId: 'dev-1',
      deviceNumId: '2000000000000001',
      deviceRegistryId: 'reg',
      deviceRegistryLocation: 'us-central1',
      projectId: 'proj',
    });
  });

  test('subFolder is the subfolder verbatim', () => {
    assert.deepEqual(messageAttributes(ids, 'a/b c'), {
      deviceId: 'dev-1',
      deviceNumId: '2000000000000001',
      deviceRegistryId: 'reg',
      deviceRegistryLocation: 'us-central1',
      projectId: 'proj',
      subFolder: 'a/b c',
    });
  });
});
