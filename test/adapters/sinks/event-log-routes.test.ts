import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { systemTimers } from '../../../src/adapters/timers/system-timers.js';
import { ApiError } from '../../../src/domain/errors.js';
import type { Permission } from '../../../src/domain/permissions.js';
import { ApiAuth, type Principal } from '../../../src/services/api-auth.js';
import { StreamRechecks } from '../../../src/services/pubsub/stream-rechecks.js';
import { registerEventLogRoutes, type EventLogSource } from '../../../src/adapters/rest/event-log-routes.js';
import { EmbeddedLogSink } from '../../../src/adapters/sinks/embedded-log/embedded-log-sink.js';
import { EmbeddedMessageLog } from '../../../src/adapters/sinks/embedded-log/embedded-message-log.js';
import { msg } from '../../contracts/sink.contract.js';
import { SseClient } from './sse-client.js';

const TOKEN = 'event-log-test-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const TOPIC = 'projects/p1/topics/telemetry';
const attrs = Object.freeze({ deviceId: 'dev-1', deviceNumId: '42', projectId: 'p1', subFolder: 'a/b' });

let dir: string;
let sink: EmbeddedLogSink;
let reader: EmbeddedMessageLog;
let app: FastifyInstance;
let base: string;
/** Emits 'unwatch' whenever a stream drops its subscription. */
const watchEvents = new EventEmitter();

interface ErrorDoc {
  error: { code: number; status: string; message: string; details?: { fieldViolations: { field: string }[] }[] };
}
interface PageDoc {
  messages: { messageId: string; publishTime: string; attributes: Record<string, string>; data: string }[];
  nextCursor: string;
}

async function get<T>(pathAndQuery: string, headers: Record<string, string> = auth): Promise<{ status: number; body: T; type: string | null }> {
  const res = await fetch(`${base}${pathAndQuery}`, { headers });
  return { status: res.status, body: (await res.json()) as T, type: res.headers.get('content-type') };
}

/** Aborts the client's stream and waits until the route has dropped its log subscription. */
async function abortAndUnwatch(sse: SseClient): Promise<void> {
  const unwatched = once(watchEvents, 'unwatch');
  sse.abort();
  await unwatched;
}

const messagesPath = '/v1/projects/p1/topics/telemetry/messages';
const streamPath = `${messagesPath}:stream`;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgehead-event-log-rest-'));
  sink = EmbeddedLogSink.open(path.join(dir, 'events.db'));
  reader = EmbeddedMessageLog.open(path.join(dir, 'events.db'), sink);
  const source: EventLogSource = {
    read: (topic, afterSeq, limit) => reader.read(topic, afterSeq, limit),
    headSeq: (topic) => reader.headSeq(topic),
    watch: (topic, listener) => {
      const unwatch = reader.watch(topic, listener);
      return () => {
        unwatch();
        watchEvents.emit('unwatch');
      };
    },
  };
  // Same router options as api-server.ts, and its catch-all: the event log routes must win over it.
  app = Fastify({ routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2000 } });
  app.route({ method: ['GET', 'POST'], url: '/v1/*', handler: async (_req, reply) => reply.code(418).send({ catchAll: true }) });
  registerEventLogRoutes(app, { log: source, auth: new ApiAuth(TOKEN), heartbeatMs: 50 });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await app.close();
  await sink.close();
  reader.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('event log REST routes', () => {
  let ids: string[];

  before(async () => {
    ids = await sink.append([
      msg(TOPIC, 'hello', attrs, Date.UTC(2030, 0, 1, 12, 0, 0, 123)),
      msg(TOPIC, new Uint8Array([0, 255, 1]), attrs, Date.UTC(2030, 0, 1, 12, 0, 1)),
      msg('projects/p1/topics/other', 'not this topic', attrs),
      msg(TOPIC, 'third', attrs, Date.UTC(2030, 0, 1, 12, 0, 2)),
    ]);
  });

  it('rejects a missing or wrong admin token with the API 401 document', async () => {
    const variants: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }];
    for (const headers of variants) {
      for (const p of [messagesPath, streamPath]) {
        const res = await get<ErrorDoc>(p, headers);
        assert.equal(res.status, 401);
        assert.equal(res.body.error.code, 401);
        assert.equal(res.body.error.status, 'UNAUTHENTICATED');
        assert.match(res.body.error.message, /admin bearer token/);
      }
    }
  });

  it('lists a topic from the start: RFC 3339 time, attributes, base64 data, nextCursor', async () => {
    const res = await get<PageDoc>(messagesPath);
    assert.equal(res.status, 200);
    assert.match(res.type ?? '', /application\/json/);
    assert.deepEqual(res.body, {
      messages: [
        { messageId: ids[0], publishTime: '2030-01-01T12:00:00.123Z', attributes: { ...attrs }, data: Buffer.from('hello').toString('base64') },
        { messageId: ids[1], publishTime: '2030-01-01T12:00:01.000Z', attributes: { ...attrs }, data: 'AP8B' },
        { messageId: ids[3], publishTime: '2030-01-01T12:00:02.000Z', attributes: { ...attrs }, data: Buffer.from('third').toString('base64') },
      ],
      nextCursor: ids[3],
    });
  });

  it('pages with after and limit; an exhausted topic keeps the cursor', async () => {
    const first = await get<PageDoc>(`${messagesPath}?limit=1`);
    assert.deepEqual(first.body.messages.map((m) => m.messageId), [ids[0]]);
    const second = await get<PageDoc>(`${messagesPath}?after=${first.body.nextCursor}&limit=1`);
    assert.deepEqual(second.body.messages.map((m) => m.messageId), [ids[1]]);
    const rest = await get<PageDoc>(`${messagesPath}?after=${second.body.nextCursor}&limit=5000`);
    assert.deepEqual(rest.body.messages.map((m) => m.messageId), [ids[3]]);
    const none = await get<PageDoc>(`${messagesPath}?after=${rest.body.nextCursor}`);
    assert.deepEqual(none.body, { messages: [], nextCursor: ids[3] });
    const unknown = await get<PageDoc>('/v1/projects/p1/topics/nobody-writes-here/messages');
    assert.deepEqual(unknown.body, { messages: [], nextCursor: '0' });
  });

  it('rejects a malformed after or limit with INVALID_ARGUMENT naming the field', async () => {
    const cases: [string, string][] = [
      ['after=abc', 'after'],
      ['after=-1', 'after'],
      ['after=1.5', 'after'],
      ['after=1&after=2', 'after'],
      ['limit=0', 'limit'],
      ['limit=ten', 'limit'],
      ['limit=', 'limit'],
    ];
    for (const [query, field] of cases) {
      const res = await get<ErrorDoc>(`${messagesPath}?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.status, 'INVALID_ARGUMENT');
      assert.equal(res.body.error.details?.[0]?.fieldViolations[0]?.field, field, query);
    }
    const header = await get<ErrorDoc>(streamPath, { ...auth, 'last-event-id': 'x' });
    assert.equal(header.status, 400);
    assert.equal(header.body.error.details?.[0]?.fieldViolations[0]?.field, 'Last-Event-ID');
  });

  it('streams the backlog after the cursor, then live messages, as SSE', async () => {
    const sse = await SseClient.open(`${base}${streamPath}?after=${ids[0]}`, auth);
    assert.equal(sse.response.status, 200);
    assert.match(sse.response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const backlog = [await sse.nextEvent(), await sse.nextEvent()];
    assert.deepEqual(backlog.map((e) => [e?.event, e?.id]), [['message', ids[1]], ['message', ids[3]]]);
    assert.deepEqual(JSON.parse(backlog[0]!.data), {
      messageId: ids[1],
      publishTime: '2030-01-01T12:00:01.000Z',
      attributes: { ...attrs },
      data: 'AP8B',
    });
    const [live] = await sink.append([msg(TOPIC, 'live!', attrs)]);
    await sink.append([msg('projects/p1/topics/other', 'elsewhere', attrs)]);
    const [live2] = await sink.append([msg(TOPIC, 'live again', attrs)]);
    const events = [await sse.nextEvent(), await sse.nextEvent()];
    assert.deepEqual(events.map((e) => e?.id), [live, live2]);
    assert.equal(Buffer.from((JSON.parse(events[0]!.data) as { data: string }).data, 'base64').toString(), 'live!');
    await abortAndUnwatch(sse);
    assert.equal(reader.watcherCount(), 0);
  });

  it('resumes after Last-Event-ID, which overrides after', async () => {
    const sse = await SseClient.open(`${base}${streamPath}?after=0`, { ...auth, 'last-event-id': ids[1]! });
    assert.equal((await sse.nextEvent())?.id, ids[3]);
    await abortAndUnwatch(sse);
  });

  it('without a cursor streams only new messages, with heartbeat comments in between', async () => {
    const sse = await SseClient.open(`${base}${streamPath}`, auth);
    const [fresh] = await sink.append([msg(TOPIC, 'fresh', attrs)]);
    assert.equal((await sse.nextEvent())?.id, fresh);
    for (;;) {
      const item = await sse.next();
      assert.ok(item, 'stream ended');
      if ('comment' in item && item.comment === 'heartbeat') break;
    }
    await abortAndUnwatch(sse);
  });

  it('app.close() ends open streams instead of waiting for clients', async () => {
    const sse = await SseClient.open(`${base}${streamPath}`, auth);
    const [fresh] = await sink.append([msg(TOPIC, 'before shutdown', attrs)]);
    assert.equal((await sse.nextEvent())?.id, fresh);
    await app.close();
    await sse.closed;
    assert.equal(await sse.next(), undefined);
    assert.equal(reader.watcherCount(), 0);
  });
});

describe('event log stream: held to its caller while open (docs/compat.md C-PS-STREAM-AUTH)', () => {
  it('a removed role ends the stream with an error event carrying the API error; a revoked key too; other streams stay', async () => {
    const robot = (keyId: string): Principal => ({ kind: 'service-account', email: 'robot-01@p1.iam.gserviceaccount.com', project: 'p1', keyId });
    const denied = new Set<string>();
    const revokedKeys = new Set<string>();
    // Bearer <keyId> authenticates as the robot with that key; the admin token as the admin.
    const checks = {
      authenticate: async (authorization: string | undefined): Promise<Principal> => {
        const token = authorization?.replace(/^Bearer /, '') ?? '';
        return token === TOKEN ? { kind: 'admin' } : robot(token);
      },
      authorize: async (caller: Principal, permission: Permission, resource: string): Promise<void> => {
        if (caller.kind === 'service-account' && denied.has(caller.keyId ?? '')) {
          throw new ApiError('PERMISSION_DENIED', `Permission "${permission}" denied on resource "${resource}" (or it may not exist).`);
        }
      },
      recheckCredential: async (caller: Principal): Promise<void> => {
        if (caller.kind === 'service-account' && revokedKeys.has(caller.keyId ?? '')) throw new ApiError('UNAUTHENTICATED', 'Service-account key is disabled.');
      },
    };
    const errors: unknown[] = [];
    const rechecks = new StreamRechecks(systemTimers, 50, (err) => errors.push(err));
    const own = Fastify();
    registerEventLogRoutes(own, { log: reader, auth: checks, rechecks, heartbeatMs: 60_000 });
    const url = `${await own.listen({ host: '127.0.0.1', port: 0 })}${streamPath}`;
    try {
      const byRole = await SseClient.open(url, { authorization: 'Bearer k-role' });
      const byKey = await SseClient.open(url, { authorization: 'Bearer k-key' });
      const admin = await SseClient.open(url, auth);
      const [first] = await sink.append([msg(TOPIC, 'to all', attrs)]);
      for (const sse of [byRole, byKey, admin]) assert.equal((await sse.nextEvent())?.id, first);
      assert.equal(rechecks.size, 3);

      denied.add('k-role');
      const refused = await byRole.nextEvent();
      assert.equal(refused?.event, 'error');
      const doc = JSON.parse(refused!.data) as ErrorDoc;
      assert.deepEqual([doc.error.code, doc.error.status], [403, 'PERMISSION_DENIED']);
      assert.match(doc.error.message, /projects\/p1\/topics\/telemetry/);
      await byRole.closed;
      assert.equal(await byRole.next(), undefined, 'the stream ended after the error event');

      revokedKeys.add('k-key');
      const unauthenticated = await byKey.nextEvent();
      assert.deepEqual([unauthenticated?.event, (JSON.parse(unauthenticated!.data) as ErrorDoc).error.status], ['error', 'UNAUTHENTICATED']);
      await byKey.closed;

      const [second] = await sink.append([msg(TOPIC, 'admin only', attrs)]);
      assert.equal((await admin.nextEvent())?.id, second, 'the admin stream goes on');
      await waitUntil(() => rechecks.size === 1);
      admin.abort();
      await admin.closed;
      await waitUntil(() => rechecks.size === 0);
      assert.deepEqual(errors, []);
    } finally {
      await own.close();
    }
  });
});

async function waitUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(done(), 'condition not reached within 2 s');
}
