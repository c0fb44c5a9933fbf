import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config/loader.js';
import { ConfigError, redactConfig, redactUrl } from '../../src/config/schema.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError, but the configuration was accepted');
}

const PG = 'postgres://bh:s3cret@db.example:5432/bridgehead';

describe('cluster settings (issue 12)', () => {
  test('embedded by default: no store URL, no NATS', () => {
    const c = loadConfig({}, {});
    assert.equal(c.store, undefined);
    assert.deepEqual(c.nats, []);
    assert.equal(c.natsPrefix, 'bh');
    assert.equal(c.jetstreamReplicas, 1);
    assert.equal(loadConfig({ store: 'embedded' }, {}).store, undefined, '"embedded" names the default');
  });

  test('from flags, environment and file alike; nats lists split on commas', () => {
    const env = { BRIDGEHEAD_STORE: PG, BRIDGEHEAD_NATS: 'nats://a:4222,nats://b:4222', BRIDGEHEAD_NODE_ID: 'node-1', BRIDGEHEAD_JETSTREAM_REPLICAS: '3' };
    const c = loadConfig({}, env);
    assert.equal(c.store, PG);
    assert.deepEqual(c.nats, ['nats://a:4222', 'nats://b:4222']);
    assert.equal(c.nodeId, 'node-1');
    assert.equal(c.jetstreamReplicas, 3);
    assert.deepEqual(loadConfig({ store: PG, nats: ['nats://x:1'] }, env).nats, ['nats://x:1'], 'flags win');
  });

  test('NATS without a shared store, a non-postgres store, bad URLs and bad names are problems naming the setting', () => {
    assert.deepEqual(problemsOf(() => loadConfig({ nats: ['nats://a:4222'] }, {})), ['nats: a cluster needs a shared store; set store to a postgres:// URL']);
    assert.deepEqual(problemsOf(() => loadConfig({ store: 'mysql://x/y' }, {})), ['store: expected "embedded" or a postgres:// URL']);
    assert.deepEqual(problemsOf(() => loadConfig({ store: PG, nats: ['http://user:pw@a:4222'] }, {})), ['nats[0]: expected a nats:// URL, got "http://user:***@a:4222"']);
    assert.deepEqual(problemsOf(() => loadConfig({ nodeId: 'has space' }, {})), ['nodeId: expected 1-64 of A-Z a-z 0-9 _ -, got "has space"']);
    assert.deepEqual(problemsOf(() => loadConfig({ jetstreamReplicas: '7' }, {})), ['jetstreamReplicas: JetStream allows at most 5']);
    assert.deepEqual(problemsOf(() => loadConfig({ natsPrefix: 'a.b' }, {})), ['natsPrefix: expected 1-32 of A-Z a-z 0-9 _ -, got "a.b"']);
  });

  test('the start line shows where the dependencies are, never their passwords', () => {
    const c = loadConfig({ store: PG, nats: ['nats://u:pw@n1:4222'] }, {});
    const shown = redactConfig(c);
    assert.equal(shown.store, 'postgres://bh:***@db.example:5432/bridgehead');
    assert.deepEqual(shown.nats, ['nats://u:***@n1:4222']);
    assert.ok(!JSON.stringify(shown).includes('s3cret'));
    assert.equal(redactUrl('postgres://db/x'), 'postgres://db/x', 'nothing to hide');
  });
});
