import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import { GoogleForwarding, forwardSubscriptionName } from '../../../../src/adapters/sinks/google-pubsub/google-forwarding.js';
import { GooglePubSubTarget } from '../../../../src/adapters/sinks/google-pubsub/google-pubsub-target.js';
import { MemoryMessageLog } from '../../../../src/adapters/sinks/memory-log/memory-message-log.js';
import { MemoryPubSubStore } from '../../../../src/adapters/store/memory/memory-pubsub-store.js';
import { systemClock, systemTimers } from '../../../../src/adapters/timers/system-timers.js';
import { LogSubscriptionEngine } from '../../../../src/services/pubsub/subscription-engine.js';
import { FakeGooglePublisher } from '../../../support/fake-google-publisher.js';

/*
 * Forwarding over the real SubscriptionEngine (memory store and log, real timers) and the real
 * @google-cloud/pubsub client, against a stand-in Publisher that goes away and comes back.
 */

const TOPIC = 'projects/p/topics/telemetry';
const TARGET = 'projects/gcp-project/topics/telemetry';

test('target down: messages wait unacked in the log; target back: every one delivered, in order per device', async () => {
  const google = new FakeGooglePublisher();
  const endpoint = await google.start();
  await google.stop();

  const store = new MemoryPubSubStore();
  const log = new MemoryMessageLog();
  const engine = new LogSubscriptionEngine({ store, log, sink: log, clock: systemClock, timers: systemTimers });
  const results = new EventEmitter();
  const forwarding = new GoogleForwarding({
    rules: [{ topic: TOPIC, target: TARGET, apiEndpoint: endpoint, emulator: true }],
    store,
    log,
    engine,
    target: (rule) => new GooglePubSubTarget(rule, { publishTimeoutMs: 300, batchMaxMs: 5 }),
    logger: pino({ level: 'silent' }),
    now: () => Date.now(),
    retryPolicy: { minimumBackoffMs: 50, maximumBackoffMs: 400 },
    onResult: (_topic, ok) => results.emit(ok ? 'ok' : 'failed'),
  });
  try {
    await forwarding.start();
    const sent: { device: string; n: number }[] = [];
    for (let n = 0; n < 10; n++) {
      for (const device of ['101', '102', '103']) {
        sent.push({ device, n });
        await log.append([{ topic: TOPIC, attributes: { deviceNumId: device }, data: new TextEncoder().encode(`${device}:${n}`), publishTime: Date.now() }]);
      }
    }
    await once(results, 'failed');
    assert.equal(google.received.length, 0);
    assert.ok((await engine.backlog(forwardSubscriptionName(TOPIC))) >= sent.length - 1, 'the messages wait in the log');

    await google.start();
    // At least once: after the outage a message may arrive twice, so the wait counts distinct ones
    // (counting arrivals, a run with duplicates stopped before every message was in).
    const distinct = (): number => new Set(google.received.map((m) => m.data.toString())).size;
    while (distinct() < sent.length) await once(results, 'ok');
    // Only what was sent, each one (the wait above ends once there are as many distinct ones).
    assert.deepEqual(new Set(google.received.map((m) => m.data.toString())), new Set(sent.map((m) => `${m.device}:${m.n}`)), 'every message arrived');
    for (const device of ['101', '102', '103']) {
      const own = google.received.filter((m) => m.orderingKey === device).map((m) => m.data.toString());
      // Duplicates are allowed (at least once); order of first arrivals is what must hold.
      const firsts = own.filter((v, i) => own.indexOf(v) === i);
      assert.deepEqual(firsts, [...Array(10).keys()].map((n) => `${device}:${n}`), `device ${device} in order`);
      assert.ok(google.received.filter((m) => m.orderingKey === device).every((m) => m.attributes.deviceNumId === device));
    }
    assert.ok(google.received.every((m) => m.topic === TARGET));
  } finally {
    await forwarding.close();
    await engine.close();
    await google.stop();
  }
});
