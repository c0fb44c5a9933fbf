import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BoundedLabels } from '../../src/observability/bounded-labels.js';
import { BridgeMetrics, MAX_REGISTRY_LABELS, type MeteredSlot } from '../../src/observability/metrics.js';

/** Every sample of `name` in the exposition text: the label part (as printed) to its value. */
async function samples(m: BridgeMetrics, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await m.registry.metrics()).split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(name.length, space), Number(line.slice(space + 1)));
  }
  return out;
}

const reg = (i: number): string => `projects/p/locations/l/registries/r${i}`;

describe('BoundedLabels (docs/compat.md C-METRICS-LABELS)', () => {
  test('the first `max` distinct values keep their own label, later ones are the overflow label, admitted ones stay', () => {
    const labels = new BoundedLabels(3);
    assert.deepEqual(['a', 'b', 'a', 'c'].map((v) => labels.label(v)), ['a', 'b', 'a', 'c']);
    assert.deepEqual(['d', 'e', 'a', 'c'].map((v) => labels.label(v)), ['other', 'other', 'a', 'c']);
    assert.equal(labels.size, 3);
  });

  test('a value equal to the overflow label takes no place of its own', () => {
    const labels = new BoundedLabels(2, 'other');
    assert.equal(labels.label('other'), 'other');
    assert.equal(labels.size, 0);
    assert.deepEqual(['x', 'y'].map((v) => labels.label(v)), ['x', 'y']);
  });
});

describe('BridgeMetrics per-registry series', () => {
  test(`messages in: ${MAX_REGISTRY_LABELS} registries get their own series, the rest add up under registry="other"`, async () => {
    const m = new BridgeMetrics();
    const slots: MeteredSlot[] = [];
    for (let i = 0; i < MAX_REGISTRY_LABELS + 5; i++) slots.push({ registryName: reg(i) });
    for (const [i, slot] of slots.entries()) for (let n = 0; n <= i % 3; n++) m.messageIn('events', 1, slot);
    m.messageIn('state', 0, slots[0]!);
    const s = await samples(m, 'bridgehead_mqtt_messages_in_total');
    const events = [...s.keys()].filter((k) => k.includes('kind="events"'));
    assert.equal(events.length, MAX_REGISTRY_LABELS + 1);
    assert.equal(s.get(`{kind="events",qos="1",registry="${reg(0)}"}`), 1);
    assert.equal(s.get(`{kind="events",qos="1",registry="${reg(2)}"}`), 3);
    assert.equal(s.get(`{kind="state",qos="0",registry="${reg(0)}"}`), 1);
    assert.equal(s.get(`{kind="events",qos="1",registry="${reg(MAX_REGISTRY_LABELS)}"}`), undefined);
    // Registries 100..104 publish 2, 3, 1, 2, 3 messages.
    let overflow = 0;
    for (let i = MAX_REGISTRY_LABELS; i < MAX_REGISTRY_LABELS + 5; i++) overflow += (i % 3) + 1;
    assert.equal(s.get('{kind="events",qos="1",registry="other"}'), overflow);
  });

  test('counts reach the counter once: a second scrape after more messages adds only those', async () => {
    const m = new BridgeMetrics();
    const slot: MeteredSlot = { registryName: reg(1) };
    m.messageIn('attach', 1, slot);
    assert.equal((await samples(m, 'bridgehead_mqtt_messages_in_total')).get(`{kind="attach",qos="1",registry="${reg(1)}"}`), 1);
    m.messageIn('attach', 1, { registryName: reg(1) });
    m.messageIn('attach', 1, slot);
    assert.equal((await samples(m, 'bridgehead_mqtt_messages_in_total')).get(`{kind="attach",qos="1",registry="${reg(1)}"}`), 3);
  });

  test('sessions open per registry: a slot counts once, and closing it twice does not go below zero', async () => {
    const m = new BridgeMetrics();
    const a: MeteredSlot = { registryName: reg(1) };
    const b: MeteredSlot = { registryName: reg(1) };
    const c: MeteredSlot = { registryName: reg(2) };
    m.sessionOpened(a);
    m.sessionOpened(a);
    m.sessionOpened(b);
    m.sessionOpened(c);
    let s = await samples(m, 'bridgehead_mqtt_sessions_open');
    assert.equal(s.get(`{registry="${reg(1)}"}`), 2);
    assert.equal(s.get(`{registry="${reg(2)}"}`), 1);
    m.sessionClosed(a);
    m.sessionClosed(a);
    m.sessionClosed(c);
    s = await samples(m, 'bridgehead_mqtt_sessions_open');
    assert.equal(s.get(`{registry="${reg(1)}"}`), 1);
    assert.equal(s.get(`{registry="${reg(2)}"}`), 0);
  });

  test('HTTP bridge requests share the registry bound; unauthenticated ones are registry="none"', async () => {
    const m = new BridgeMetrics();
    for (let i = 0; i < MAX_REGISTRY_LABELS; i++) m.meterOf(reg(i));
    m.request('publishEvent', 200, 0.001, reg(7));
    m.request('publishEvent', 200, 0.001, reg(500));
    m.request('other', 401, 0, undefined);
    const s = await samples(m, 'bridgehead_http_bridge_requests_total');
    assert.deepEqual(
      [...s.entries()].sort(),
      [
        [`{method="other",status="401",registry="none"}`, 1],
        [`{method="publishEvent",status="200",registry="${reg(7)}"}`, 1],
        [`{method="publishEvent",status="200",registry="other"}`, 1],
      ].sort(),
    );
  });

  test('API calls by transport, method and code; streams are counted but not timed', async () => {
    const m = new BridgeMetrics();
    m.apiCall('rest', 'google.cloud.iot.v1.DeviceManager/GetDevice', 'OK', 0.002);
    m.apiCall('rest', 'google.cloud.iot.v1.DeviceManager/GetDevice', 'NOT_FOUND', 0.001);
    m.apiCall('grpc', 'google.pubsub.v1.Subscriber/StreamingPull', 'CANCELLED', undefined);
    const s = await samples(m, 'bridgehead_api_requests_total');
    assert.equal(s.get('{transport="rest",method="google.cloud.iot.v1.DeviceManager/GetDevice",code="OK"}'), 1);
    assert.equal(s.get('{transport="rest",method="google.cloud.iot.v1.DeviceManager/GetDevice",code="NOT_FOUND"}'), 1);
    assert.equal(s.get('{transport="grpc",method="google.pubsub.v1.Subscriber/StreamingPull",code="CANCELLED"}'), 1);
    const counts = await samples(m, 'bridgehead_api_request_seconds_count');
    assert.equal(counts.get('{transport="rest",method="google.cloud.iot.v1.DeviceManager/GetDevice"}'), 2);
    assert.equal(counts.get('{transport="grpc",method="google.pubsub.v1.Subscriber/StreamingPull"}'), undefined);
  });
});
