import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { echoJson } from '../../domain/echo.js';
import { invalidArgument } from '../../domain/errors.js';
import { EVENT_LOG_PERMISSION } from '../../domain/permissions.js';
import { principalKey, type ApiAuth, type Principal } from '../../services/api-auth.js';
import type { PsMessage } from '../../domain/pubsub/pubsub-model.js';
import type { MessageLog } from '../../services/pubsub/pubsub-ports.js';
import type { StreamRechecks } from '../../services/pubsub/stream-rechecks.js';
import { errorResponse, REASON_HEADER, toApiError } from './error-response.js';

/**
 * Reading the telemetry log (embedded, or JetStream in cluster mode) over the admin API (behind the admin bearer token):
 *
 *   GET /v1/projects/{p}/topics/{t}/messages?after=CURSOR&limit=N
 *     -> {"messages":[{"messageId","publishTime","attributes","data"}],"nextCursor":"<seq>"}
 *     Without `after`, from the oldest retained message. limit: default 100, above 1000 clamped
 *     (Google's page-size convention). nextCursor is always present: poll with it for more.
 *
 *   GET /v1/projects/{p}/topics/{t}/messages:stream?after=CURSOR
 *     Server-Sent Events: `event: message`, `id: <seq>`, `data: <message JSON>`; the backlog after
 *     the cursor, then live messages. `Last-Event-ID` (an EventSource reconnecting) overrides
 *     `after`; with neither, only messages committed from now on. A comment line every 15 s
 *     keeps proxies from timing the stream out.
 *
 * Cursors are message seqs (messageId == seq): increasing, never reused; global in the embedded
 * log, per project stream in JetStream.
 */

/** What the routes read: the MessageLog port, so one set of routes serves every log. */
export type EventLogSource = Pick<MessageLog, 'read' | 'headSeq' | 'watch'>;

export interface EventLogRoutesOptions {
  log: EventLogSource;
  /**
   * Callers authenticate as on every `/v1` route; a service account needs pubsub.subscriptions.consume
   * on the project (docs/compat.md C-SA-EVENTLOG).
   */
  auth: Pick<ApiAuth, 'authenticate' | 'authorize' | 'recheckCredential'>;
  /** Open streams are checked again with these, so that a revoked key or role ends them (C-PS-STREAM-AUTH); none: never. */
  rechecks?: Pick<StreamRechecks, 'add'>;
  /** Interval of SSE heartbeat comments; default 15 s. */
  heartbeatMs?: number;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** Messages per read while a stream catches up: bounds the work done between socket writes. */
const STREAM_PAGE = 500;

interface Params {
  project: string;
  topic: string;
}

export interface MessageJson {
  messageId: string;
  publishTime: string;
  attributes: Record<string, string>;
  data: string;
}

export function messageJson(m: Pick<PsMessage, 'messageId' | 'publishTime' | 'attributes' | 'data'>): MessageJson {
  return {
    messageId: m.messageId,
    publishTime: rfc3339(m.publishTime),
    attributes: m.attributes,
    data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('base64'),
  };
}

/** A stored time outside Date's range must not break a whole page (or stream) of messages. */
function rfc3339(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}

export function registerEventLogRoutes(app: FastifyInstance, opts: EventLogRoutesOptions): void {
  const { log, auth } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  /** Closers of the open streams: they would otherwise hold `app.close()` open forever. */
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of [...streams]) close();
  });

  const base = '/v1/projects/:project/topics/:topic/messages';
  const authorized = async (request: FastifyRequest<{ Params: Params }>): Promise<Principal> => {
    const caller = await auth.authenticate(request.headers.authorization);
    await auth.authorize(caller, EVENT_LOG_PERMISSION, topicName(request.params));
    return caller;
  };

  app.get<{ Params: Params }>(base, async (request, reply) => {
    try {
      await authorized(request);
      const query = request.query as Record<string, unknown>;
      const after = parseCursor(query.after, 'after') ?? 0;
      const limit = parseLimit(query.limit);
      const messages = await log.read(topicName(request.params), after, limit);
      const cursor = messages.length > 0 ? messages[messages.length - 1]!.seq : after;
      void reply.header('content-type', 'application/json; charset=utf-8');
      return { messages: messages.map(messageJson), nextCursor: String(cursor) };
    } catch (e) {
      return sendError(request, reply, e);
    }
  });

  // `::` is find-my-way's escape for a literal colon, so this is the static segment `messages:stream`.
  app.get<{ Params: Params }>(`${base}::stream`, async (request, reply) => {
    let start: number;
    let caller: Principal;
    try {
      caller = await authorized(request);
      const query = request.query as Record<string, unknown>;
      start = parseCursor(request.headers['last-event-id'], 'Last-Event-ID') ?? parseCursor(query.after, 'after') ?? (await log.headSeq(topicName(request.params)));
    } catch (e) {
      return sendError(request, reply, e);
    }
    reply.hijack();
    const topic = topicName(request.params);
    const stream = openStream(reply.raw, { log, topic, start, heartbeatMs });
    streams.add(stream.close);
    // Held to what opened it while open: a revoked key or role ends it with an `error` event
    // carrying the error's JSON, and a reconnecting EventSource then gets the refusal itself.
    const untrack = opts.rechecks?.add({
      resource: topic,
      key: `${principalKey(caller)}\n${topic}`,
      recheck: async () => {
        await auth.recheckCredential(caller);
        await auth.authorize(caller, EVENT_LOG_PERMISSION, topic);
      },
      end: (error) => stream.fail(JSON.stringify(errorResponse(error).body)),
    });
    stream.done
      .catch((e: unknown) => request.log.error({ err: e }, 'event log stream failed'))
      .finally(() => {
        untrack?.();
        streams.delete(stream.close);
      });
  });
}

const topicName = (p: Params): string => `projects/${p.project}/topics/${p.topic}`;

/** Answers in Google's error JSON here, so the routes need no particular error handler on `app`. */
function sendError(request: FastifyRequest, reply: FastifyReply, e: unknown): FastifyReply {
  const apiError = toApiError(e);
  if (apiError.kind === 'INTERNAL') request.log.error({ err: e }, 'internal error reading the event log');
  const { status, body, reason } = errorResponse(apiError);
  return reply.code(status).header('content-type', 'application/json; charset=utf-8').header(REASON_HEADER, reason).send(body);
}

function parseCursor(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw invalidArgument(field, `${field} must be a message cursor (a messageId or nextCursor), got ${echoJson(value)}.`);
  }
  return n;
}

function parseLimit(value: unknown): number {
  if (value === undefined) return DEFAULT_LIMIT;
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1)) throw invalidArgument('limit', `limit must be a whole number from 1 to ${MAX_LIMIT}, got ${echoJson(value)}.`);
  return Math.min(n, MAX_LIMIT);
}

interface StreamOptions {
  log: EventLogSource;
  topic: string;
  start: number;
  heartbeatMs: number;
}

/**
 * One SSE client. The watch is registered before the first read, so a commit between reading the
 * backlog and waiting cannot be missed; each wake-up reads everything after the cursor. Writes
 * wait for 'drain', so a slow client holds a cursor, not a growing buffer.
 */
function openStream(raw: ServerResponse, o: StreamOptions): { close: () => void; fail: (errorJson: string) => void; done: Promise<void> } {
  let cursor = o.start;
  let dirty = true;
  let closed = false;
  let wake: (() => void) | undefined;
  const unwatch = o.log.watch(o.topic, () => {
    dirty = true;
    wake?.();
  });
  const heartbeat = setInterval(() => {
    if (!raw.writableNeedDrain) raw.write(': heartbeat\n\n');
  }, o.heartbeatMs);
  const close = (): void => {
    if (closed) return;
    closed = true;
    unwatch();
    clearInterval(heartbeat);
    wake?.();
    if (!raw.writableEnded) raw.end();
  };
  raw.on('close', close);
  raw.on('error', close);

  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // Reverse proxies (nginx) must not buffer a stream.
    'x-accel-buffering': 'no',
  });
  // Sends the headers now, so the client sees the stream open before the first message.
  raw.write(': stream open\n\n');

  const pump = async (): Promise<void> => {
    while (!closed) {
      if (!dirty) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      dirty = false;
      for (;;) {
        const messages = await o.log.read(o.topic, cursor, STREAM_PAGE);
        if (closed) break;
        if (messages.length > 0) cursor = messages[messages.length - 1]!.seq;
        let text = '';
        for (const m of messages) text += `event: message\nid: ${m.messageId}\ndata: ${JSON.stringify(messageJson(m))}\n\n`;
        if (text !== '' && !raw.write(text)) await drained(raw);
        if (closed || messages.length < STREAM_PAGE) break;
      }
    }
  };
  /** Ends the stream with an `error` event (one line of JSON) after what was written so far. */
  const fail = (errorJson: string): void => {
    if (!closed && !raw.writableEnded) raw.write(`event: error\ndata: ${errorJson}\n\n`);
    close();
  };
  return { close, fail, done: pump().finally(close) };
}

function drained(raw: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      raw.off('drain', done);
      raw.off('close', done);
      resolve();
    };
    raw.on('drain', done);
    raw.on('close', done);
  });
}
