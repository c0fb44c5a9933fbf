import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { parseDuration, resourceName, toJson } from '../../../src/cli/commands/pubsub.js';
import { UsageError } from '../../../src/cli/context.js';

describe('pubsub command helpers', () => {
  test('a bare ID is completed with the project; a full name is kept; anything else is refused', () => {
    assert.equal(resourceName('topics', 't1', 'p', 'TOPIC'), 'projects/p/topics/t1');
    assert.equal(resourceName('subscriptions', 'projects/q/subscriptions/s', 'p', 'SUB'), 'projects/q/subscriptions/s');
    assert.throws(() => resourceName('topics', 'projects/q/subscriptions/s', 'p', 'TOPIC'), InvalidArgumentError);
    assert.throws(() => resourceName('topics', '', 'p', 'TOPIC'), InvalidArgumentError);
    assert.throws(() => resourceName('topics', 't1', undefined, 'TOPIC'), UsageError);
  });

  test('durations take gcloud units and plain seconds', () => {
    assert.deepEqual(parseDuration('600s', '--x'), { seconds: '600' });
    assert.deepEqual(parseDuration('10m', '--x'), { seconds: '600' });
    assert.deepEqual(parseDuration('7d', '--x'), { seconds: '604800' });
    assert.deepEqual(parseDuration('42', '--x'), { seconds: '42' });
    for (const bad of ['', '1w', '-1s', '1.5h', 's']) assert.throws(() => parseDuration(bad, '--x'), InvalidArgumentError, bad);
  });

  test('responses print timestamps as RFC 3339 and durations as seconds', () => {
    const out = toJson({
      name: 'projects/p/snapshots/s',
      expireTime: { seconds: '1893456000', nanos: 5_000_000 },
      messageRetentionDuration: { seconds: '600' },
      labels: { a: 'b' },
      list: [{ publishTime: { seconds: '0' } }],
    });
    assert.deepEqual(out, {
      name: 'projects/p/snapshots/s',
      expireTime: '2030-01-01T00:00:00.005Z',
      messageRetentionDuration: '600s',
      labels: { a: 'b' },
      list: [{ publishTime: '1970-01-01T00:00:00.000Z' }],
    });
  });
});
