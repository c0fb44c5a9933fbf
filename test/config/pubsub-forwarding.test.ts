import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/loader.js';
import { ConfigError } from '../../src/config/schema.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.problems;
  }
  assert.fail('expected a ConfigError, but the configuration was accepted');
}

const dir = mkdtempSync(join(tmpdir(), 'bridgehead-fwd-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('pubsubForwarding', () => {
  test('is empty by default', () => {
    assert.deepEqual(loadConfig({}, {}).pubsubForwarding, []);
  });

  test('flags: LOCAL=TARGET, LOCAL=TARGET@host:port (TLS) and LOCAL=TARGET@http://host:port (plaintext, no credentials)', () => {
    const config = loadConfig(
      {
        pubsubForwarding: [
          'projects/p1/topics/telemetry=projects/gcp-project/topics/telemetry',
          'projects/p1/topics/state=projects/gcp-project/topics/state@europe-west1-pubsub.googleapis.com:443',
          'projects/p1/topics/alerts=projects/other-project/topics/alerts@http://127.0.0.1:8085',
        ],
      },
      {},
    );
    assert.deepEqual(config.pubsubForwarding, [
      { topic: 'projects/p1/topics/telemetry', target: 'projects/gcp-project/topics/telemetry', apiEndpoint: undefined, emulator: false },
      { topic: 'projects/p1/topics/state', target: 'projects/gcp-project/topics/state', apiEndpoint: 'europe-west1-pubsub.googleapis.com:443', emulator: false },
      { topic: 'projects/p1/topics/alerts', target: 'projects/other-project/topics/alerts', apiEndpoint: '127.0.0.1:8085', emulator: true },
    ]);
    assert.ok(Object.isFrozen(config.pubsubForwarding) && Object.isFrozen(config.pubsubForwarding[0]));
  });

  test('environment: entries separated by ; or , and overridden by flags', () => {
    const env = { BRIDGEHEAD_PUBSUB_FORWARDING: 'projects/p/topics/alpha=projects/gcp-project/topics/alpha; projects/p/topics/bravo=projects/gcp-project/topics/bravo,projects/p/topics/charlie=projects/gcp-project/topics/charlie' };
    assert.deepEqual(
      loadConfig({}, env).pubsubForwarding.map((r) => r.topic),
      ['projects/p/topics/alpha', 'projects/p/topics/bravo', 'projects/p/topics/charlie'],
    );
    assert.deepEqual(
      loadConfig({ pubsubForwarding: ['projects/p/topics/zulu=projects/gcp-project/topics/zulu'] }, env).pubsubForwarding.map((r) => r.topic),
      ['projects/p/topics/zulu'],
    );
  });

  test('config file: objects with apiEndpoint and emulator', () => {
    const file = join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({ pubsubForwarding: [{ topic: 'projects/p/topics/tele', target: 'projects/gcp-project/topics/tele', apiEndpoint: 'localhost:8085', emulator: true }] }),
    );
    assert.deepEqual(loadConfig({ configFile: file }, {}).pubsubForwarding, [
      { topic: 'projects/p/topics/tele', target: 'projects/gcp-project/topics/tele', apiEndpoint: 'localhost:8085', emulator: true },
    ]);
  });

  test('every bad rule is reported, naming it and how to fix it', () => {
    const problems = problemsOf(() =>
      loadConfig(
        {
          pubsubForwarding: [
            'telemetry',
            'projects/p/topics/tele=projects/gcp-project/subscriptions/tele',
            'topics/tele=projects/gcp-project/topics/tele',
            'projects/p/topics/tele=projects/gcp-project/topics/tele@not an endpoint',
            'projects/p/topics/okay=projects/gcp-project/topics/okay',
            'projects/p/topics/okay=projects/gcp-project/topics/other',
          ],
        },
        {},
      ),
    );
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.match(problems[0]!, /^pubsubForwarding\[0\]: expected LOCAL=TARGET\[@ENDPOINT\].*"telemetry"/);
    assert.match(problems[1]!, /^pubsubForwarding\[1\]: the target "projects\/gcp-project\/subscriptions\/tele" is not a Google Pub\/Sub topic name/);
    assert.match(problems[2]!, /^pubsubForwarding\[2\]: the local topic "topics\/tele" is not a topic name/);
    assert.match(problems[3]!, /^pubsubForwarding\[3\]: the endpoint "not an endpoint" is not host:port/);
    assert.match(problems[4]!, /^pubsubForwarding\[5\]: projects\/p\/topics\/okay is forwarded twice/);
  });

  test('objects with unknown keys or an emulator without an endpoint are refused', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        pubsubForwarding: [
          { topic: 'projects/p/topics/tele', target: 'projects/gcp-project/topics/tele', endpoint: 'x:1' },
          { topic: 'projects/p/topics/uniform', target: 'projects/gcp-project/topics/uniform', emulator: true },
        ],
      }),
    );
    const problems = problemsOf(() => loadConfig({ configFile: file }, {}));
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0]!, /^pubsubForwarding\[0\]: expected/);
    assert.match(problems[1]!, /^pubsubForwarding\[1\]: a plaintext \(emulator\) target needs an endpoint/);
  });
});

describe('push settings', () => {
  test('defaults, environment and flags', () => {
    const d = loadConfig({}, {});
    assert.deepEqual([d.pushMaxOutstandingPerSubscription, d.pushMaxSockets, d.pushTokenIssuer], [10, 100, 'https://accounts.google.com']);
    const c = loadConfig(
      { pushMaxSockets: '7' },
      { BRIDGEHEAD_PUSH_MAX_OUTSTANDING_PER_SUBSCRIPTION: '3', BRIDGEHEAD_PUSH_MAX_SOCKETS: '9', BRIDGEHEAD_PUSH_TOKEN_ISSUER: 'https://iot.example.com' },
    );
    assert.deepEqual([c.pushMaxOutstandingPerSubscription, c.pushMaxSockets, c.pushTokenIssuer], [3, 7, 'https://iot.example.com']);
  });

  test('a zero concurrency is refused', () => {
    assert.deepEqual(problemsOf(() => loadConfig({ pushMaxOutstandingPerSubscription: '0' }, {})), [
      'pushMaxOutstandingPerSubscription: expected a positive integer, got "0"',
    ]);
  });
});

describe('stream recheck interval (docs/compat.md C-PS-STREAM-AUTH)', () => {
  test('30 s by default, set by the environment; 1 s to a day', () => {
    assert.equal(loadConfig({}, {}).pubsubStreamRecheckSeconds, 30);
    assert.equal(loadConfig({}, { BRIDGEHEAD_PUBSUB_STREAM_RECHECK_SECONDS: '5' }).pubsubStreamRecheckSeconds, 5);
    assert.deepEqual(problemsOf(() => loadConfig({}, { BRIDGEHEAD_PUBSUB_STREAM_RECHECK_SECONDS: '0' })), [
      'pubsubStreamRecheckSeconds: expected a positive integer, got "0"',
    ]);
    // Beyond Node's timer range the rounds would run back to back.
    assert.deepEqual(problemsOf(() => loadConfig({}, { BRIDGEHEAD_PUBSUB_STREAM_RECHECK_SECONDS: '3000000' })), [
      'pubsubStreamRecheckSeconds: expected at most 86400 (a day), got 3000000',
    ]);
  });
});
