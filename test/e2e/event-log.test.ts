import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { systemTimers } from '../../src/adapters/timers/system-timers.js';
import { ApiError } from '../../src/domain/errors.js';
import type { Permission } from '../../src/domain/permissions.js';
import { ApiAuth, type Principal } from '../../src/services/api-auth.js';
import { StreamRechecks } from '../../src/services/pubsub/stream-rechecks.js';
import { registerEventLogRoutes } from '../../src/adapters/rest/event-log-routes.js';
import { EmbeddedLogSink } from '../../src/adapters/sinks/embedded-log/embedded-log-sink.js';
import { EmbeddedMessageLog } from '../../src/adapters/sinks/embedded-log/embedded-message-log.js';
import { msg } from '../contracts/sink.contract.js';
import type { ProcessResult } from '../support/processes.js';
import { CLI, cliEnv, runCli } from '../support/server.js';

/**
 * `bridgehead events tail` as a user runs it: the CLI process against the event log routes on a
 * real sink (served by a bare fastify instance, so this does not depend on the server's wiring).
 */

const TOKEN = 'event-log-cli-token';
const TOPIC = 'projects/p1/topics/telemetry';
const attrs = Object.freeze({ deviceId: 'dev-1', deviceNumId: '42', projectId: 'p1', subFolder: 'temp' });

let dir: string;
let sink: EmbeddedLogSink;
let reader: EmbeddedMessageLog;
let app: FastifyInstance;
let api: string;
let ids: string[];

const cli = (args: string[]): Promise<ProcessResult> => runCli(args, { cwd: dir });

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridgehead-event-log-cli-'));
  sink = EmbeddedLogSink.open(path.join(dir, 'events.db'));
  reader = EmbeddedMessageLog.open(path.join(dir, 'events.db'), sink);
  app = Fastify();
  registerEventLogRoutes(app, { log: reader, auth: new ApiAuth(TOKEN) });
  api = await app.listen({ host: '127.0.0.1', port: 0 });
  ids = await sink.append([
    msg(TOPIC, '21.5', attrs, Date.UTC(2030, 0, 1)),
    msg(TOPIC, new Uint8Array([0, 1, 2]), { ...attrs, extra: 'yes' }, Date.UTC(2030, 0, 1, 0, 0, 1)),
    msg(TOPIC, 'third', attrs, Date.UTC(2030, 0, 1, 0, 0, 2)),
  ]);
});

after(async () => {
  await app.close();
  await sink.close();
  reader.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('bridgehead events tail', () => {
  const globals = (): string[] => ['--api', api, '--token', TOKEN];

  /** `events tail --follow` from after the second message, its JSON lines read one message id at a time. */
  const followTail = (connection: string[]) => {
    const child = spawn(process.execPath, [CLI, 'events', 'tail', TOPIC, '--follow', '--after', ids[1]!, '--format', 'json', ...connection], {
      env: cliEnv(),
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const nextId = async (): Promise<string> => {
      const line = await lines.next();
      assert.ok(!line.done, `tail ended early: ${stderr}`);
      return (JSON.parse(line.value as string) as { messageId: string }).messageId;
    };
    return { child, exited, nextId, stderr: (): string => stderr };
  };

  it('prints every message after the cursor as JSON lines and exits', async () => {
    const r = await cli(['events', 'tail', 'telemetry', '--project', 'p1', '--format', 'json', ...globals()]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { messageId: string; data: string });
    assert.deepEqual(lines.map((m) => m.messageId), ids);
    assert.equal(Buffer.from(lines[0]!.data, 'base64').toString(), '21.5');
  });

  it('prints text lines from --after, at most --limit, and the cursor to continue from', async () => {
    const r = await cli(['events', 'tail', TOPIC, '--after', ids[0]!, '--limit', '1', ...globals()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `2030-01-01T00:00:01.000Z  ${ids[1]}  device=dev-1 subFolder=temp extra=yes  AAEC\n`);
    assert.match(r.stderr, new RegExp(`Next cursor: ${ids[1]}`));
  });

  it('--follow prints the backlog, then live messages, until interrupted', async () => {
    const tail = followTail(globals());
    assert.equal(await tail.nextId(), ids[2]);
    const [live] = await sink.append([msg(TOPIC, 'live', attrs)]);
    assert.equal(await tail.nextId(), live);
    tail.child.kill('SIGINT');
    assert.equal(await tail.exited, 0, tail.stderr());
  });

  it('reports API errors and usage errors', async () => {
    const denied = await cli(['events', 'tail', TOPIC, '--api', api, '--token', 'wrong']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /ERROR: \(UNAUTHENTICATED\)/);
    const deniedStream = await cli(['events', 'tail', TOPIC, '--follow', '--api', api, '--token', 'wrong']);
    assert.equal(deniedStream.code, 1);
    assert.match(deniedStream.stderr, /ERROR: \(UNAUTHENTICATED\)/);
    const bare = await cli(['events', 'tail', 'telemetry', ...globals()]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /--project/);
    const badCursor = await cli(['events', 'tail', TOPIC, '--after', 'x', ...globals()]);
    assert.equal(badCursor.code, 2);
  });

  it('--follow ends with the API error when the server ends the stream for revoked access (C-PS-STREAM-AUTH)', async () => {
    let revoked = false;
    const robot: Principal = { kind: 'service-account', email: 'reader-01@p1.iam.gserviceaccount.com', project: 'p1', keyId: 'k-1' };
    const auth = {
      authenticate: async (): Promise<Principal> => robot,
      authorize: async (_caller: Principal, permission: Permission, resource: string): Promise<void> => {
        if (revoked) throw new ApiError('PERMISSION_DENIED', `Permission "${permission}" denied on resource "${resource}" (or it may not exist).`);
      },
      recheckCredential: async (): Promise<void> => undefined,
    };
    const own = Fastify();
    registerEventLogRoutes(own, { log: reader, auth, rechecks: new StreamRechecks(systemTimers, 50, () => undefined) });
    const ownApi = await own.listen({ host: '127.0.0.1', port: 0 });
    try {
      const tail = followTail(['--api', ownApi, '--token', 'robot-token']);
      assert.equal(await tail.nextId(), ids[2]);
      revoked = true;
      assert.equal(await tail.exited, 1, tail.stderr());
      assert.match(tail.stderr(), /ERROR: \(PERMISSION_DENIED\) Permission "pubsub\.subscriptions\.consume" denied on resource "projects\/p1\/topics\/telemetry"/);
    } finally {
      await own.close();
    }
  });
});
