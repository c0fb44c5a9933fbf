import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { Sink, SinkMessage } from '../../src/services/ports.js';
import type { MessageLog } from '../../src/services/pubsub/pubsub-ports.js';

/**
 * The MessageLog port contract: how Pub/Sub subscriptions read the durable log that the telemetry
 * Sink appends to. An implementation hands over both sides of one log.
 */
export interface MessageLogUnderTest {
  log: MessageLog;
  /** Appends to the same log (the EmbeddedLogSink, say). */
  sink: Sink;
  /** Releases both sides; the contract calls it after each test. */
  close(): Promise<void>;
  /** Persistent logs: closes both sides and opens the same log again. */
  reopen?: () => Promise<MessageLogUnderTest>;
}

const T0 = Date.UTC(2030, 0, 1);
const TOPIC = 'projects/proj/topics/main';
const OTHER = 'projects/proj/topics/other';

const message = (topic: string, text: string, over: Partial<SinkMessage> = {}): SinkMessage => ({
  topic,
  attributes: Object.freeze({ n: text }),
  data: new TextEncoder().encode(text),
  publishTime: T0,
  ...over,
});

const texts = (ms: { data: Uint8Array }[]): string[] => ms.map((m) => new TextDecoder().decode(m.data));

export function messageLogContract(name: string, make: () => Promise<MessageLogUnderTest>): void {
  describe(`MessageLog contract: ${name}`, async () => {
    const probe = await make();
    const persistent = probe.reopen !== undefined;
    await probe.close();

    const opened: MessageLogUnderTest[] = [];
    afterEach(async () => {
      for (const h of opened.splice(0)) await h.close();
    });
    const fresh = async (): Promise<MessageLogUnderTest> => {
      const h = await make();
      opened.push(h);
      return h;
    };

    it('a new log is empty: head 0, nothing to read, nothing before any time', async () => {
      const { log } = await fresh();
      assert.equal(await log.headSeq(TOPIC), 0);
      assert.deepEqual(await log.read(TOPIC, 0, 10), []);
      assert.equal(await log.seqBefore(TOPIC, T0 + 1_000_000), 0);
    });

    it('seqs start at 1, increase across topics, and each messageId is String(seq)', async () => {
      const { log, sink } = await fresh();
      const ids = await sink.append([message(TOPIC, 'a'), message(OTHER, 'b'), message(TOPIC, 'c')]);
      assert.deepEqual(ids, ['1', '2', '3']);
      assert.equal(await log.headSeq(TOPIC), 3);
      const more = await sink.append([message(OTHER, 'd')]);
      assert.deepEqual(more, ['4']);
      assert.equal(await log.headSeq(TOPIC), 4);
      const main = await log.read(TOPIC, 0, 10);
      assert.deepEqual(main.map((m) => m.seq), [1, 3]);
      assert.deepEqual(main.map((m) => m.messageId), ['1', '3']);
      assert.deepEqual(texts(await log.read(OTHER, 0, 10)), ['b', 'd']);
    });

    it('read returns one topic\'s messages after a seq, ascending, at most limit', async () => {
      const { log, sink } = await fresh();
      for (let i = 0; i < 10; i++) await sink.append([message(TOPIC, `m${i}`), message(OTHER, `o${i}`)]);
      const all = await log.read(TOPIC, 0, 100);
      assert.deepEqual(texts(all), Array.from({ length: 10 }, (_, i) => `m${i}`));
      const seqs = all.map((m) => m.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
      assert.deepEqual(texts(await log.read(TOPIC, 0, 3)), ['m0', 'm1', 'm2']);
      // afterSeq is exclusive and need not be a seq of this topic.
      assert.deepEqual(texts(await log.read(TOPIC, seqs[2]!, 2)), ['m3', 'm4']);
      assert.deepEqual(texts(await log.read(TOPIC, seqs[2]! + 1, 2)), ['m3', 'm4']);
      assert.deepEqual(await log.read(TOPIC, seqs[9]!, 5), []);
      assert.deepEqual(await log.read('projects/proj/topics/none', 0, 5), []);
    });

    it('messages come back as appended: data byte-exact, attributes, publishTime, orderingKey or \'\'', async () => {
      const { log, sink } = await fresh();
      const every = new Uint8Array(256).map((_v, i) => i);
      const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
      await sink.append([
        message(TOPIC, 'x', { data: every, attributes: Object.freeze({ 'key "q"': 'v\u0000\n', ü: '✓ 𝄞', ['__proto__']: 'own' }), publishTime: T0 + 1, orderingKey: 'key-1' }),
        message(TOPIC, 'x', { data: new Uint8Array(0), attributes: Object.freeze({}), publishTime: T0 + 2 }),
        message(TOPIC, 'x', { data: backing.subarray(2, 5), publishTime: T0 + 3, orderingKey: 'ключ 🔑' }),
        message(TOPIC, 'x', { orderingKey: '' }),
      ]);
      const read = await log.read(TOPIC, 0, 10);
      assert.deepEqual([...read[0]!.data], [...every]);
      assert.deepEqual(read[0]!.attributes, { 'key "q"': 'v\u0000\n', ü: '✓ 𝄞', ['__proto__']: 'own' });
      assert.equal(Object.getPrototypeOf(read[0]!.attributes), Object.prototype);
      assert.equal(read[0]!.orderingKey, 'key-1');
      assert.equal(read[0]!.publishTime, T0 + 1);
      assert.deepEqual([...read[1]!.data], []);
      assert.deepEqual(read[1]!.attributes, {});
      assert.equal(read[1]!.orderingKey, '');
      assert.deepEqual([...read[2]!.data], [1, 2, 3]);
      assert.equal(read[2]!.orderingKey, 'ключ 🔑');
      assert.equal(read[3]!.orderingKey, '');
      // What a reader got is its own: changing it changes nothing stored.
      const mine = (await log.read(TOPIC, 0, 1))[0]!;
      mine.data[0] = 77;
      mine.attributes.added = 'x';
      const again = (await log.read(TOPIC, 0, 1))[0]!;
      assert.equal(again.data[0], 0);
      assert.equal(again.attributes.added, undefined);
    });

    it('seqBefore is the greatest seq of the topic published strictly before the time', async () => {
      const { log, sink } = await fresh();
      await sink.append([message(TOPIC, 'a', { publishTime: T0 + 10 }), message(OTHER, 'x', { publishTime: T0 + 15 })]);
      await sink.append([message(TOPIC, 'b', { publishTime: T0 + 20 }), message(TOPIC, 'c', { publishTime: T0 + 30 })]);
      const [a, b, c] = (await log.read(TOPIC, 0, 10)).map((m) => m.seq);
      assert.equal(await log.seqBefore(TOPIC, T0), 0);
      assert.equal(await log.seqBefore(TOPIC, T0 + 10), 0);
      assert.equal(await log.seqBefore(TOPIC, T0 + 11), a);
      assert.equal(await log.seqBefore(TOPIC, T0 + 20), a);
      assert.equal(await log.seqBefore(TOPIC, T0 + 25), b);
      assert.equal(await log.seqBefore(TOPIC, T0 + 1_000_000), c);
      // The other topic's message is not this topic's.
      assert.equal(await log.seqBefore(OTHER, T0 + 1_000_000), 2);
      assert.equal(await log.seqBefore('projects/proj/topics/none', T0 + 1_000_000), 0);
    });

    it('count is the number of the topic\'s messages after a seq, whatever other topics hold', async () => {
      const { log, sink } = await fresh();
      await sink.append([message(TOPIC, 'a'), message(OTHER, 'x'), message(TOPIC, 'b'), message(TOPIC, 'c')]);
      const [a, b, c] = (await log.read(TOPIC, 0, 10)).map((m) => m.seq);
      assert.equal(await log.count(TOPIC, 0), 3);
      assert.equal(await log.count(TOPIC, a!), 2);
      assert.equal(await log.count(TOPIC, b!), 1);
      assert.equal(await log.count(TOPIC, c!), 0);
      assert.equal(await log.count(OTHER, 0), 1);
      assert.equal(await log.count('projects/proj/topics/none', 0), 0);
    });

    it('watch calls the listener after a commit to its topic, with the commit\'s messages readable', async () => {
      const { log, sink } = await fresh();
      const calls: number[] = [];
      let readInListener: Promise<string[]> | undefined;
      const heard = new Promise<void>((resolve) => {
        log.watch(TOPIC, (lastSeq) => {
          calls.push(lastSeq);
          readInListener ??= log.read(TOPIC, 0, 10).then(texts);
          resolve();
        });
      });
      const ids = await sink.append([message(TOPIC, 'a'), message(TOPIC, 'b')]);
      await heard;
      assert.equal(calls.length, 1);
      assert.ok(calls[0]! >= Number(ids[1]), `lastSeq ${calls[0]} covers the commit`);
      assert.deepEqual(await readInListener, ['a', 'b']);
    });

    it('a watcher hears only its topic, and nothing after unsubscribing', async () => {
      const { log, sink } = await fresh();
      const main: number[] = [];
      const other: number[] = [];
      const stopMain = log.watch(TOPIC, (s) => main.push(s));
      log.watch(OTHER, (s) => other.push(s));
      await sink.append([message(OTHER, 'o1')]);
      await sink.append([message(OTHER, 'o2')]);
      await sink.append([message(TOPIC, 'm1')]);
      // Appends resolve after their commit's listeners ran, or shortly before: one more commit on
      // the watched topic flushes any listener still due.
      const flushed = new Promise<void>((resolve) => log.watch(OTHER, () => resolve()));
      await sink.append([message(OTHER, 'o3')]);
      await flushed;
      assert.equal(main.length, 1);
      assert.equal(other.length, 3);
      stopMain();
      stopMain();
      const done = new Promise<void>((resolve) => log.watch(OTHER, () => resolve()));
      await sink.append([message(TOPIC, 'm2'), message(OTHER, 'o4')]);
      await done;
      assert.equal(main.length, 1);
    });

    it('appends of one turn get distinct seqs, ascending within each call', async () => {
      const { log, sink } = await fresh();
      const calls = await Promise.all(Array.from({ length: 30 }, (_, i) => sink.append([message(TOPIC, `${i}a`), message(TOPIC, `${i}b`)])));
      const seqs = calls.flat().map(Number);
      assert.equal(new Set(seqs).size, 60);
      for (const ids of calls) assert.ok(Number(ids[0]) < Number(ids[1]));
      assert.equal(await log.headSeq(TOPIC), Math.max(...seqs));
      assert.equal((await log.read(TOPIC, 0, 100)).length, 60);
    });

    if (persistent) {
      it('messages and ordering keys survive reopening, and seqs go on from the head', async () => {
        const first = await make();
        await first.sink.append([message(TOPIC, 'a', { orderingKey: 'k' }), message(OTHER, 'b')]);
        const second = await first.reopen!();
        opened.push(second);
        assert.equal(await second.log.headSeq(TOPIC), 2);
        const read = await second.log.read(TOPIC, 0, 10);
        assert.deepEqual(texts(read), ['a']);
        assert.equal(read[0]!.orderingKey, 'k');
        assert.deepEqual(await second.sink.append([message(TOPIC, 'c')]), ['3']);
      });
    }
  });
}
