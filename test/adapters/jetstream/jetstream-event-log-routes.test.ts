import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerEventLogRoutes } from '../../../src/adapters/rest/event-log-routes.js';
import { ApiAuth } from '../../../src/services/api-auth.js';
import { msg } from '../../contracts/sink.contract.js';
import { startNats, type TestNats } from '../../support/nats.js';
import { SseClient } from '../sinks/sse-client.js';
import { openJetStreamLog, type JetStreamLog } from './jetstream-fixture.js';

/**
 * The event-log REST routes over the JetStream log: the same routes as the embedded mode
 * (test/adapters/sinks/event-log-routes.test.ts), paging and SSE, on a real nats-server.
 */

const TOKEN = 'event-log-js-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const TOPIC = 'projects/p1/topics/telemetry';
const attrs = Object.freeze({ deviceId: 'dev-1', projectId: 'p1' });
const messagesPath = '/v1/projects/p1/topics/telemetry/messages';
const streamPath = `${messagesPath}:stream`;

interface PageDoc {
  messages: { messageId: string; publishTime: string; attributes: Record<string, string>; data: string }[];
  nextCursor: string;
}

let nats: TestNats;
let j: JetStreamLog;
let app: FastifyInstance;
let base: string;

const page = async (query: string): Promise<PageDoc> => {
  const res = await fetch(`${base}${messagesPath}${query}`, { headers: auth });
  assert.equal(res.status, 200);
  return (await res.json()) as PageDoc;
};
/** Emits 'unwatch' whenever a stream drops its log subscription. */
const watchEvents = new EventEmitter();

/** Aborts the client's stream and waits until the route has dropped its watch of the log. */
async function abortAndUnwatch(sse: SseClient): Promise<void> {
  const unwatched = once(watchEvents, 'unwatch');
  sse.abort();
  await unwatched;
}

const text = (data: string): string => Buffer.from(data, 'base64').toString();

before(async () => {
  nats = await startNats();
  j = await openJetStreamLog(nats.url);
  app = Fastify();
  const log = j.log;
  const source = {
    read: log.read.bind(log),
    headSeq: log.headSeq.bind(log),
    watch: (topic: string, listener: (lastSeq: number) => void) => {
      const unwatch = log.watch(topic, listener);
      return () => {
        unwatch();
        watchEvents.emit('unwatch');
      };
    },
  };
  registerEventLogRoutes(app, { log: source, auth: new ApiAuth(TOKEN), heartbeatMs: 60_000 });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await app.close();
  await j.close();
  await nats.cleanup();
});

describe('event log REST routes on JetStream', () => {
  let ids: string[];

  before(async () => {
    ids = await j.sink.append([
      msg(TOPIC, 'hello', attrs, Date.UTC(2030, 0, 1, 12, 0, 0, 123)),
      msg('projects/p1/topics/other', 'not this topic', attrs),
      msg(TOPIC, new Uint8Array([0, 255, 1]), attrs, Date.UTC(2030, 0, 1, 12, 0, 1)),
    ]);
  });

  it('lists and pages a topic; the cursor is the project stream seq; an unknown topic or project is empty', async () => {
    const all = await page('');
    assert.deepEqual(all, {
      messages: [
        { messageId: ids[0], publishTime: '2030-01-01T12:00:00.123Z', attributes: { ...attrs }, data: Buffer.from('hello').toString('base64') },
        { messageId: ids[2], publishTime: '2030-01-01T12:00:01.000Z', attributes: { ...attrs }, data: 'AP8B' },
      ],
      nextCursor: ids[2],
    });
    const first = await page('?limit=1');
    assert.deepEqual(first.messages.map((m) => m.messageId), [ids[0]]);
    const second = await page(`?after=${first.nextCursor}&limit=1`);
    assert.deepEqual(second.messages.map((m) => m.messageId), [ids[2]]);
    assert.deepEqual(await page(`?after=${second.nextCursor}`), { messages: [], nextCursor: ids[2] });
    const unknown = await fetch(`${base}/v1/projects/nobody/topics/t/messages`, { headers: auth });
    assert.deepEqual(await unknown.json(), { messages: [], nextCursor: '0' });
  });

  it('streams the backlog after the cursor, then live messages, across more than one read page', async () => {
    const sse = await SseClient.open(`${base}${streamPath}?after=${ids[0]}`, auth);
    assert.equal(sse.response.status, 200);
    assert.equal((await sse.nextEvent())?.id, ids[2]);
    // More than the stream's 500-message read page, appended while the client listens.
    const burst = await j.sink.append(Array.from({ length: 1_201 }, (_v, i) => msg(TOPIC, `live-${i}`, attrs)));
    await j.sink.append([msg('projects/p1/topics/other', 'elsewhere', attrs)]);
    const got: string[] = [];
    while (got.length < burst.length) {
      const e = await sse.nextEvent();
      assert.ok(e, 'stream ended');
      got.push(e.id!);
      if (got.length === 1) assert.equal(text((JSON.parse(e.data) as { data: string }).data), 'live-0');
    }
    assert.deepEqual(got, burst);
    await abortAndUnwatch(sse);
  });

  it('resumes after Last-Event-ID; without a cursor only new messages come', async () => {
    const resumed = await SseClient.open(`${base}${streamPath}?after=0`, { ...auth, 'last-event-id': ids[0]! });
    assert.equal((await resumed.nextEvent())?.id, ids[2]);
    await abortAndUnwatch(resumed);

    const fresh = await SseClient.open(`${base}${streamPath}`, auth);
    const [id] = await j.sink.append([msg(TOPIC, 'fresh', attrs)]);
    const e = await fresh.nextEvent();
    assert.equal(e?.id, id);
    assert.equal(text((JSON.parse(e!.data) as { data: string }).data), 'fresh');
    await abortAndUnwatch(fresh);
  });

  it('streams leave no watch of the log behind', () => {
    assert.equal(j.log.watcherCount(), 0);
  });

  it('a stream started on one node hears appends made through another node', async () => {
    const other = await openJetStreamLog(nats.url);
    try {
      const sse = await SseClient.open(`${base}${streamPath}`, auth);
      // The announcement travels between connections: a PING round trip makes sure the server has the watch's SUB.
      await j.nc.flush();
      const [id] = await other.sink.append([msg(TOPIC, 'from node B', attrs)]);
      const e = await sse.nextEvent();
      assert.equal(e?.id, id);
      await abortAndUnwatch(sse);
    } finally {
      await other.close();
    }
  });
});
