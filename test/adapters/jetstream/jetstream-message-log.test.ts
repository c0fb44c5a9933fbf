import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ApiError } from '../../../src/domain/errors.js';
import type { SinkMessage } from '../../../src/services/ports.js';
import { startNats, type TestNats } from '../../support/nats.js';
import { messageLogContract, type MessageLogUnderTest } from '../../contracts/message-log.contract.js';
import { deleteAllStreams, openJetStreamLog } from './jetstream-fixture.js';

let nats: TestNats | undefined;
/** Awaits `p`, failing the test instead of hanging if it has not settled within `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
const message = (topic: string, text: string): SinkMessage => ({ topic, attributes: {}, data: new TextEncoder().encode(text), publishTime: Date.now() });
const server = async (): Promise<TestNats> => (nats ??= await startNats());

describe('JetStreamMessageLog on a real nats-server', async () => {
  after(async () => {
    await nats?.cleanup();
    nats = undefined;
  });

  const open = async (): Promise<MessageLogUnderTest> => {
    const j = await openJetStreamLog((await server()).url);
    return {
      log: j.log,
      sink: j.sink,
      close: () => j.close(),
      reopen: async () => {
        await j.close();
        return open();
      },
    };
  };

  // The contract's describe probes make() before any hook runs: the server starts lazily.
  messageLogContract('JetStream', async () => {
    await deleteAllStreams((await server()).url);
    return open();
  });
});

describe('JetStreamMessageLog faults', () => {
  after(async () => {
    await nats?.cleanup();
    nats = undefined;
  });

  it('while nats-server is down reads reject with LOG_UNAVAILABLE in bounded time; after its restart watchers are woken and everything acknowledged reads back', async () => {
    const n = await server();
    await deleteAllStreams(n.url);
    const topic = 'projects/down/topics/t';
    const j = await openJetStreamLog(n.url, { timeoutMs: 500 });
    try {
      const ids = await j.sink.append(Array.from({ length: 30 }, (_v, i) => message(topic, `m${i}`)));
      const woken: number[] = [];
      let onWake: (() => void) | undefined;
      j.log.watch(topic, (seq) => {
        woken.push(seq);
        onWake?.();
      });
      await n.stop('kill');
      const unavailable = (e: unknown): boolean => e instanceof ApiError && e.kind === 'UNAVAILABLE' && e.reason === 'LOG_UNAVAILABLE';
      for (const call of [() => j.log.read(topic, 0, 100), () => j.log.headSeq(topic), () => j.log.count(topic, 0), () => j.log.seqBefore(topic, Date.now())]) {
        const started = Date.now();
        await assert.rejects(call(), unavailable);
        assert.ok(Date.now() - started < 2_000, `rejected after ${Date.now() - started} ms`);
      }
      // Announcements sent while this node was cut off are lost: the reconnect itself wakes every watcher.
      const wokenAgain = new Promise<void>((resolve) => (onWake = resolve));
      await n.start();
      await within(wokenAgain, 10_000, 'watcher woken by the reconnect');
      const read = await j.log.read(topic, 0, 100);
      assert.deepEqual(read.map((m) => m.messageId), ids);
      // And the watch's subscription came back with the connection.
      const heard = new Promise<void>((resolve) => (onWake = resolve));
      woken.length = 0;
      const [next] = await j.sink.append([message(topic, 'after restart')]);
      await within(heard, 5_000, 'announcement after the restart');
      assert.deepEqual(woken, [Number(next)]);
    } finally {
      await j.close();
    }
  });
});
