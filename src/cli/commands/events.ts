import { InvalidArgumentError, type Command } from 'commander';
import { ApiClient, buildUrl, ConnectionError, errorFromBody, normalizeBase, resourcePath } from '../api-client.js';
import { arg, callerAuth, globals, group, leaf, run } from '../context.js';
import { intParser, topicName } from '../flags.js';
import { previewData, type JsonObject } from '../output.js';

/**
 * `bridgehead events tail TOPIC`: reads the embedded event log over the admin API
 * (src/adapters/rest/event-log-routes.ts). Prints one message per line: JSON (NDJSON) with
 * `--format json`, else `TIME  ID  device=... subFolder=...  DATA`.
 */

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
}

/** Incremental text/event-stream parser (the subset of the WHATWG rules a server of ours emits, plus CRLF). */
export class SseParser {
  private buffer = '';

  /** `onComment` sees comment lines (heartbeats), without the leading colon. */
  constructor(private readonly onComment?: (text: string) => void) {}

  /** Feeds decoded text; returns the events it completed (comments are dropped). */
  push(text: string): SseEvent[] {
    // A lone CR at the very end may be the first half of a CRLF split across chunks: keep it.
    this.buffer = (this.buffer + text).replace(/\r\n|\r(?!$)/g, '\n');
    const out: SseEvent[] = [];
    for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const ev = parseBlock(block, this.onComment);
      if (ev) out.push(ev);
    }
    return out;
  }
}

function parseBlock(block: string, onComment: ((text: string) => void) | undefined): SseEvent | undefined {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) onComment?.(line.slice(1).trim());
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'id') id = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 ? undefined : { event, id, data: data.join('\n') };
}

const IDENTITY = new Set(['deviceId', 'subFolder', 'deviceNumId', 'deviceRegistryId', 'deviceRegistryLocation', 'projectId']);

/** One message as a line of text: the device and subfolder, other non-identity attributes, the payload. */
export function formatMessageLine(m: JsonObject): string {
  const attrs = (m.attributes ?? {}) as Record<string, string>;
  const parts = [`device=${attrs.deviceId ?? '?'}`];
  if (attrs.subFolder !== undefined) parts.push(`subFolder=${attrs.subFolder}`);
  for (const [k, v] of Object.entries(attrs)) if (!IDENTITY.has(k)) parts.push(`${k}=${v}`);
  return `${String(m.publishTime)}  ${String(m.messageId)}  ${parts.join(' ')}  ${previewData(m.data, Number.POSITIVE_INFINITY)}`;
}

const cursorParser = (text: string): string => {
  if (!/^\d{1,16}$/.test(text)) throw new InvalidArgumentError(`--after must be a message ID or cursor (digits), got "${text}".`);
  return text;
};

interface TailOptions {
  after?: string;
  follow?: boolean;
  limit?: number;
}

export function registerEvents(program: Command): void {
  const events = group(program, 'events', 'read the embedded event log (device telemetry and state messages)');

  leaf(events, 'tail <topic>', 'print the messages of a topic (projects/P/topics/T, or T with --project)')
    .option('--after <cursor>', 'start after this message ID (default: the oldest retained, or now with --follow)', cursorParser)
    .option('--follow', 'keep the stream open and print messages as they arrive, until interrupted')
    .option('--limit <n>', 'without --follow: stop after N messages', intParser('--limit', 1))
    .action(
      run(async (cmd) => {
        const g = globals(cmd);
        const o = cmd.opts<TailOptions>();
        const { bearer: token, keyProject } = callerAuth(cmd);
        const [, project, , topic] = topicName(arg(cmd, 0), g.project ?? keyProject, 'TOPIC').split('/');
        const path = `${resourcePath('projects', project!, 'topics', topic!)}/messages`;
        const print = (m: JsonObject): void => {
          process.stdout.write(`${g.format === 'json' ? JSON.stringify(m) : formatMessageLine(m)}\n`);
        };
        if (o.follow) await follow(g.api, token, path, o.after, print);
        else {
          const cursor = await page(new ApiClient(g.api, token), path, o.after ?? '0', o.limit, print);
          if (g.format === 'text') process.stderr.write(`Next cursor: ${cursor} (continue with --after ${cursor}).\n`);
        }
      }),
    );
}

/** Pages through the messages after `after`; returns the cursor to continue from. */
async function page(client: ApiClient, path: string, after: string, limit: number | undefined, print: (m: JsonObject) => void): Promise<string> {
  let cursor = after;
  for (let left = limit ?? Number.POSITIVE_INFINITY; left > 0; ) {
    const want = Math.min(1000, left);
    const doc = await client.get(path, { after: cursor, limit: want });
    const messages = (doc.messages ?? []) as JsonObject[];
    messages.forEach(print);
    cursor = String(doc.nextCursor ?? cursor);
    left -= messages.length;
    if (messages.length < want) break;
  }
  return cursor;
}

/** Streams over SSE until SIGINT (a clean exit 0) or the server ends the stream (an error). */
async function follow(api: string, token: string, path: string, after: string | undefined, print: (m: JsonObject) => void): Promise<void> {
  const abort = new AbortController();
  const onSigint = (): void => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    let res: Response;
    try {
      res = await fetch(buildUrl(api, `${path}:stream`, { after }), {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        signal: abort.signal,
      });
    } catch (e) {
      if (abort.signal.aborted) return;
      throw new ConnectionError(normalizeBase(api), describe(e));
    }
    if (!res.ok || !res.body) throw errorFromBody(res.status, await res.text());
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (abort.signal.aborted) return;
        throw new ConnectionError(normalizeBase(api), describe(e));
      }
      if (chunk.done) throw new Error('the server closed the event stream.');
      for (const ev of parser.push(decoder.decode(chunk.value, { stream: true }))) {
        if (ev.event === 'message') print(JSON.parse(ev.data) as JsonObject);
        // The server ended the stream with an API error (its caller's access was revoked): shown as the refusal it is.
        else if (ev.event === 'error') throw errorFromBody(httpStatusOf(ev.data), ev.data);
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The HTTP status an `error` event's JSON (Google's error document) names; 500 if it names none. */
function httpStatusOf(errorJson: string): number {
  try {
    const code = (JSON.parse(errorJson) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'number' ? code : 500;
  } catch {
    return 500;
  }
}

function describe(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e;
  return cause instanceof Error ? cause.message : String(cause);
}
