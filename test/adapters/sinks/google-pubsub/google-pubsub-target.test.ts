import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GooglePubSubTarget } from '../../../../src/adapters/sinks/google-pubsub/google-pubsub-target.js';
import { FakeGooglePublisher } from '../../../support/fake-google-publisher.js';

const TARGET = 'projects/gcp-project/topics/telemetry';

describe('GooglePubSubTarget (the real @google-cloud/pubsub client against a stand-in Publisher)', () => {
  const google = new FakeGooglePublisher();
  let target: GooglePubSubTarget;
  before(async () => {
    const endpoint = await google.start();
    target = new GooglePubSubTarget({ target: TARGET, apiEndpoint: endpoint, emulator: true }, { publishTimeoutMs: 20_000, batchMaxMs: 5 });
  });
  after(async () => {
    await target.close();
    await google.stop();
  });

  test('publishes data, attributes and the ordering key, in order per key, and resolves with the target\'s IDs', async () => {
    const ids = await Promise.all(
      [0, 1, 2, 3].map((i) => target.publish({ data: new TextEncoder().encode(`m${i}`), attributes: { deviceNumId: String(i % 2) }, orderingKey: String(i % 2) })),
    );
    assert.equal(new Set(ids).size, 4);
    // Ordering holds per key only: the client publishes each key's batch on its own, in either order.
    const byKey = (key: string): unknown[] =>
      google.received.filter((m) => m.orderingKey === key).map((m) => [m.topic, m.data.toString(), m.attributes]);
    assert.equal(google.received.length, 4);
    assert.deepEqual(byKey('0'), [
      [TARGET, 'm0', { deviceNumId: '0' }],
      [TARGET, 'm2', { deviceNumId: '0' }],
    ]);
    assert.deepEqual(byKey('1'), [
      [TARGET, 'm1', { deviceNumId: '1' }],
      [TARGET, 'm3', { deviceNumId: '1' }],
    ]);
  });

  test('target down: a publish fails once its timeout is spent (the forwarder then nacks it)', async () => {
    const down = new FakeGooglePublisher();
    const endpoint = await down.start();
    await down.stop();
    const t = new GooglePubSubTarget({ target: TARGET, apiEndpoint: endpoint, emulator: true }, { publishTimeoutMs: 300 });
    try {
      await assert.rejects(t.publish({ data: new TextEncoder().encode('lost?'), attributes: {}, orderingKey: 'k' }), /UNAVAILABLE|timeout/i);
      t.resume('k');
    } finally {
      await t.close();
    }
  });

  test('target back within the timeout: the client\'s own retries deliver', async () => {
    google.received.length = 0;
    await google.stop();
    const pending = target.publish({ data: new TextEncoder().encode('after the outage'), attributes: {}, orderingKey: '' });
    await google.start();
    await pending;
    assert.deepEqual(google.received.map((m) => m.data.toString()), ['after the outage']);
  });
});
