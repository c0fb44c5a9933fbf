import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Sink, SinkMessage } from '../../src/services/ports.js';

/**
 * The Sink port contract: what the MQTT and HTTP bridges rely on from any sink (the embedded log,
 * a Pub/Sub publisher, ...). A QoS 1 PUBACK waits on `append`, so it must resolve only once the
 * messages are stored, and readable exactly as given.
 */

export interface StoredMessage {
  messageId: string;
  publishTime: number;
  attributes: Record<string, string>;
  data: Uint8Array;
}

export interface SinkUnderTest {
  sink: Sink;
  /** Every stored message of `topic`, in the order the sink keeps them. */
  readTopic(topic: string): Promise<StoredMessage[]>;
  /** Commits (transactions, publish batches) so far: shows that one tick's appends are grouped. */
  commits(): number;
  /** Releases anything beside the sink (readers, files); the contract closes the sink itself. */
  dispose?(): Promise<void>;
}

export interface SinkOptions {
  maxQueuedMessages?: number;
}

const T0 = Date.UTC(2030, 0, 1);

const identity = (device: string, subFolder?: string): Readonly<Record<string, string>> =>
  Object.freeze({
    deviceId: device,
    deviceNumId: '2794855512345678',
    deviceRegistryId: 'reg-1',
    deviceRegistryLocation: 'us-central1',
    projectId: 'proj-1',
    ...(subFolder === undefined ? {} : { subFolder }),
  });

export const msg = (topic: string, data: Uint8Array | string, attributes = identity('dev-1'), publishTime = T0): SinkMessage => ({
  topic,
  attributes,
  data: typeof data === 'string' ? new TextEncoder().encode(data) : data,
  publishTime,
});

const bytes = (m: StoredMessage): number[] => [...m.data];

export function sinkContract(name: string, make: (opts: SinkOptions) => Promise<SinkUnderTest>): void {
  describe(`Sink contract: ${name}`, () => {
    const opened: SinkUnderTest[] = [];
    afterEach(async () => {
      for (const s of opened.splice(0)) {
        await s.sink.close();
        await s.dispose?.();
      }
    });
    const fresh = async (opts: SinkOptions = {}): Promise<SinkUnderTest> => {
      const s = await make(opts);
      opened.push(s);
      return s;
    };

    it('resolves one distinct ID per message, in order, and keeps them in that order', async () => {
      const { sink, readTopic } = await fresh();
      const topic = 'projects/proj-1/topics/order';
      const first = await sink.append([msg(topic, 'a'), msg(topic, 'b'), msg(topic, 'c')]);
      const second = await sink.append([msg(topic, 'd')]);
      assert.equal(first.length, 3);
      assert.equal(second.length, 1);
      const ids = [...first, ...second];
      assert.equal(new Set(ids).size, 4);
      for (const id of ids) assert.ok(typeof id === 'string' && id !== '');
      const stored = await readTopic(topic);
      assert.deepEqual(stored.map((m) => m.messageId), ids);
      assert.deepEqual(stored.map((m) => new TextDecoder().decode(m.data)), ['a', 'b', 'c', 'd']);
    });

    it('stores data byte-exact, attributes and publishTime as given, per topic', async () => {
      const { sink, readTopic } = await fresh();
      const topic = 'projects/proj-1/topics/exact';
      const every = new Uint8Array(256).map((_v, i) => i);
      // A computed `__proto__` key is an own property, as a decoded one must be.
      const odd = Object.freeze({ 'key "quoted"': 'v\u0000\n\u001f', ['__proto__']: 'x', ü: '✓ 𝄞', '': 'empty key', deviceId: 'd' });
      const written = [
        msg(topic, every, identity('dev-1', 'a/b/c'), T0 + 1),
        msg(topic, new Uint8Array(0), identity('dev-2'), T0 + 2),
        msg(topic, 'plain', odd, T0 + 3),
        msg(topic, 'none', Object.freeze({}), T0 + 4),
        msg('projects/proj-1/topics/other', 'elsewhere'),
      ];
      // A view into a larger buffer: only the view's bytes are the payload.
      const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
      written.push(msg(topic, backing.subarray(2, 5), identity('dev-3', 'x'), T0 + 5));
      await sink.append(written);
      const stored = await readTopic(topic);
      const expected = written.filter((m) => m.topic === topic);
      assert.equal(stored.length, expected.length);
      stored.forEach((m, i) => {
        assert.deepEqual(bytes(m), [...expected[i]!.data]);
        assert.deepEqual(m.attributes, { ...expected[i]!.attributes });
        assert.equal(m.publishTime, expected[i]!.publishTime);
      });
      assert.deepEqual((await readTopic('projects/proj-1/topics/other')).map(bytes), [[...new TextEncoder().encode('elsewhere')]]);
    });

    it('an attributes object shared by many messages is stored for each of them', async () => {
      const { sink, readTopic } = await fresh();
      const topic = 'projects/proj-1/topics/shared';
      const attrs = identity('dev-9', 'sub');
      await Promise.all([1, 2, 3].map((i) => sink.append([msg(topic, String(i), attrs)])));
      const stored = await readTopic(topic);
      assert.equal(stored.length, 3);
      for (const m of stored) assert.deepEqual(m.attributes, { ...attrs });
    });

    it('appends made in one event-loop turn land in one commit', async () => {
      const { sink, commits, readTopic } = await fresh();
      const topic = 'projects/proj-1/topics/group';
      await sink.append([msg(topic, 'warm-up')]);
      const before = commits();
      const calls = Array.from({ length: 50 }, (_v, i) => sink.append([msg(topic, String(i))]));
      const ids = await Promise.all(calls);
      assert.equal(commits() - before, 1);
      assert.equal(new Set(ids.flat()).size, 50);
      assert.equal((await readTopic(topic)).length, 51);
    });

    it('an empty append resolves to no IDs', async () => {
      const { sink } = await fresh();
      assert.deepEqual(await sink.append([]), []);
    });

    it('close commits what was accepted, is idempotent, and later appends reject', async () => {
      const { sink, readTopic } = await fresh();
      const topic = 'projects/proj-1/topics/closing';
      const pending = sink.append([msg(topic, 'before close')]);
      const closing = sink.close();
      await Promise.all([closing, sink.close()]);
      assert.equal((await pending).length, 1);
      await assert.rejects(sink.append([msg(topic, 'after close')]));
      await sink.close();
      assert.deepEqual((await readTopic(topic)).map((m) => new TextDecoder().decode(m.data)), ['before close']);
    });

    it('reports saturation at the queue bound and calls onDrain once it has drained', async () => {
      const { sink } = await fresh({ maxQueuedMessages: 10 });
      const topic = 'projects/proj-1/topics/pressure';
      let drains = 0;
      const drained = new Promise<void>((resolve) =>
        sink.onDrain(() => {
          drains++;
          resolve();
        }),
      );
      assert.equal(sink.saturated(), false);
      const calls = Array.from({ length: 9 }, (_v, i) => sink.append([msg(topic, String(i))]));
      assert.equal(sink.saturated(), false);
      calls.push(sink.append([msg(topic, 'tenth'), msg(topic, 'eleventh')]));
      assert.equal(sink.saturated(), true);
      await Promise.all(calls);
      await drained;
      assert.equal(sink.saturated(), false);
      assert.equal(drains, 1);
      // Below the bound nothing more fires.
      await sink.append([msg(topic, 'calm')]);
      assert.equal(drains, 1);
    });
  });
}
