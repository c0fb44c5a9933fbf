import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../../src/domain/errors.js';
import { startNats, type TestNats } from '../../support/nats.js';
import { msg, sinkContract, type SinkUnderTest } from '../../contracts/sink.contract.js';
import { deleteAllStreams, openJetStreamLog } from './jetstream-fixture.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { JetStreamNames } from '../../../src/adapters/jetstream/jetstream-names.js';

let nats: TestNats | undefined;
const server = async (): Promise<TestNats> => (nats ??= await startNats());

describe('JetStreamSink on a real nats-server', () => {
  after(async () => {
    await nats?.cleanup();
    nats = undefined;
  });

  sinkContract('JetStream', async (opts): Promise<SinkUnderTest> => {
    const { url } = await server();
    await deleteAllStreams(url);
    const j = await openJetStreamLog(url, { sink: { maxInFlight: opts.maxQueuedMessages } });
    return {
      sink: j.sink,
      readTopic: async (topic) => j.log.read(topic, 0, 10_000),
      commits: () => j.sink.diagnostics().batches,
      dispose: () => j.close(),
    };
  });

  describe('streams', () => {
    before(async () => deleteAllStreams((await server()).url));

    it('creates one stream per project with the configured limits, and recreates one an operator deleted', async () => {
      const { url } = await server();
      const j = await openJetStreamLog(url, { limits: { maxAgeMs: 3_600_000, duplicateWindowMs: 60_000, maxBytes: 1 << 30 } });
      try {
        await j.sink.append([msg('projects/a/topics/t', '1'), msg('projects/b.example:c/topics/t', '2')]);
        const jsm = await jetstreamManager(j.nc);
        const names = new JetStreamNames();
        const info = await jsm.streams.info(names.streamOfProject('a'));
        assert.deepEqual(info.config.subjects, [names.projectSubjects('a')]);
        assert.equal(info.config.max_age, 3_600_000 * 1e6);
        assert.equal(info.config.duplicate_window, 60_000 * 1e6);
        assert.equal(info.config.max_bytes, 1 << 30);
        assert.equal(info.config.num_replicas, 1);
        assert.equal((await jsm.streams.info(names.streamOfProject('b.example:c'))).state.messages, 1);
        await jsm.streams.delete(names.streamOfProject('a'));
        // The sink still believes the stream exists: its publish finds none, creates it, retries.
        assert.deepEqual(await j.sink.append([msg('projects/a/topics/t', 'after delete')]), ['1']);
        assert.deepEqual((await j.log.read('projects/a/topics/t', 0, 10)).map((m) => new TextDecoder().decode(m.data)), ['after delete']);
      } finally {
        await j.close();
      }
    });

    it('a project whose stream cannot be created (its subjects taken by another stream) rejects LOG_UNAVAILABLE, not a hang', async () => {
      const { url } = await server();
      const j = await openJetStreamLog(url);
      try {
        const jsm = await jetstreamManager(j.nc);
        await jsm.streams.add({ name: 'SOMEONE_ELSE', subjects: [new JetStreamNames().projectSubjects('clash')] });
        const started = Date.now();
        await assert.rejects(j.sink.append([msg('projects/clash/topics/t', 'x')]), (e: unknown) => e instanceof ApiError && e.reason === 'LOG_UNAVAILABLE' && /clash/.test(e.message));
        assert.ok(Date.now() - started < 5_000);
        // Other projects are unaffected.
        assert.equal((await j.sink.append([msg('projects/fine/topics/t', 'y')])).length, 1);
      } finally {
        await j.close();
      }
    });

    it('two nodes creating the same project stream at the same moment both succeed', async () => {
      const { url } = await server();
      const nodes = await Promise.all([openJetStreamLog(url), openJetStreamLog(url), openJetStreamLog(url)]);
      try {
        const ids = await Promise.all(nodes.map((n, i) => n.sink.append([msg('projects/race/topics/t', String(i))])));
        assert.deepEqual(ids.flat().map(Number).sort(), [1, 2, 3]);
      } finally {
        for (const n of nodes) await n.close();
      }
    });

    it('a publish retried after its PubAck timed out is stored once (same Nats-Msg-Id, deduplicated)', async () => {
      const n = await server();
      const { url } = n;
      const topic = 'projects/dedupe/topics/t';
      const j = await openJetStreamLog(url, { sink: { publishTimeoutMs: 50, publishAttempts: 1_000 } });
      try {
        // Warm up: this sink knows the stream, so what follows is publishes only. Then publish
        // with the server frozen until every message's first attempt has timed out and been retried
        // (nothing can answer meanwhile); let go, the server receives each message several times.
        await j.sink.append([msg(topic, 'warm-up')]);
        const before = j.sink.diagnostics().retries;
        const thaw = n.freeze();
        let ids: string[][];
        try {
          const appended = Promise.all(Array.from({ length: 40 }, (_v, i) => j.sink.append([msg(topic, `m${i}`), msg(topic, `m${i}b`)])));
          const until = Date.now() + 20_000;
          while (j.sink.diagnostics().retries - before < 80 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
          thaw();
          ids = await appended;
        } finally {
          thaw();
        }
        assert.ok(j.sink.diagnostics().retries - before >= 80, `${j.sink.diagnostics().retries - before} retries: every message's first attempt timed out`);
        const stored = await j.log.read(topic, 1, 1_000);
        // Late PubAcks of timed-out attempts arrive after the retry's; the stream holds each message once.
        assert.equal(stored.length, 80, `${stored.length} stored for 80 appended`);
        assert.deepEqual(ids.flat().map(Number).sort((a, b) => a - b), stored.map((m) => m.seq));
      } finally {
        await j.close();
      }
    });
  });

  describe('faults', () => {
    it('nats-server killed under appends: in-flight appends reject within the bound, later ones succeed on the same sink, acknowledged ones survive', async () => {
      const n = await server();
      await deleteAllStreams(n.url);
      const topic = 'projects/faults/topics/t';
      const timeoutMs = 500;
      const attempts = 2;
      const j = await openJetStreamLog(n.url, { sink: { publishTimeoutMs: timeoutMs, publishAttempts: attempts }, timeoutMs: 1_000 });
      try {
        const acked: string[] = [];
        for (let i = 0; i < 20; i++) acked.push(...(await j.sink.append([msg(topic, `acked-${i}`), msg(topic, `acked-${i}b`)])));
        // Appends in flight as the server dies: none may resolve as stored.
        const inFlight = Array.from({ length: 50 }, (_v, i) => j.sink.append([msg(topic, `lost-${i}`)]));
        const killed = n.stop('kill');
        const started = Date.now();
        const outcomes = await Promise.allSettled(inFlight);
        await killed;
        const elapsed = Date.now() - started;
        const resolved = outcomes.filter((o) => o.status === 'fulfilled').length;
        const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
        // Some may have been acknowledged before the kill landed; every rejection is LOG_UNAVAILABLE.
        for (const r of rejected) {
          assert.ok(r.reason instanceof ApiError, String(r.reason));
          assert.equal(r.reason.kind, 'UNAVAILABLE');
          assert.equal(r.reason.reason, 'LOG_UNAVAILABLE');
        }
        const ackedInFlight = outcomes.flatMap((o) => (o.status === 'fulfilled' ? o.value : []));
        assert.ok(elapsed < timeoutMs * attempts + 2_000, `settled in ${elapsed} ms`);

        // While the server is down an append rejects, within the bound.
        const downStart = Date.now();
        await assert.rejects(j.sink.append([msg(topic, 'while down')]), (e: unknown) => e instanceof ApiError && e.reason === 'LOG_UNAVAILABLE');
        assert.ok(Date.now() - downStart < timeoutMs * attempts + 1_000);
        assert.equal(resolved + rejected.length, 50);
        // The kill came before the batch was published: this test saw appends fail, not only succeed.
        assert.ok(rejected.length > 0, `${resolved} resolved, none rejected`);

        const reconnected = (async () => {
          for await (const st of j.nc.status()) if (st.type === 'reconnect') return;
        })();
        await n.start();
        await reconnected;
        // The same sink instance works again once the client has reconnected.
        const after = await j.sink.append([msg(topic, 'after restart')]);
        assert.equal(after.length, 1);

        // Everything acknowledged before the kill is readable, in order, with the IDs given.
        const read = await j.log.read(topic, 0, 1_000);
        const byId = new Map(read.map((m) => [m.messageId, new TextDecoder().decode(m.data)]));
        for (const id of [...acked, ...ackedInFlight, ...after]) assert.ok(byId.has(id), `message ${id} acknowledged, then missing`);
        assert.equal(byId.get(acked[0]!), 'acked-0');
        assert.equal(byId.get(acked[39]!), 'acked-19b');
        assert.equal(byId.get(after[0]!), 'after restart');
      } finally {
        await j.close();
      }
    });
  });
});
