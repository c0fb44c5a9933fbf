import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ProcessResult } from '../support/processes.js';
import { runCli, startServer, type StartedServer } from '../support/server.js';

/** `bridgehead pubsub ...` as a user runs it: a child process talking to the server's gRPC listener. */

let server: StartedServer;
let dir: string;
let endpoint: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bridgehead-cli-pubsub-'));
  server = await startServer({ args: ['--grpc-listen', '127.0.0.1:0'] });
  endpoint = String(server.info.grpc).replace(/^grpc:\/\//, '');
});

after(async () => {
  await server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], env: Record<string, string> = {}): Promise<ProcessResult> =>
  runCli(['pubsub', ...args, '--project', 'cli-ps', '--token', server.token, '--pubsub-endpoint', endpoint], { env, cwd: dir });

async function ok(...args: string[]): Promise<ProcessResult> {
  const r = await cli(args);
  assert.equal(r.code, 0, `bridgehead pubsub ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r;
}

async function json(...args: string[]): Promise<Record<string, unknown>> {
  return JSON.parse((await ok(...args, '--format', 'json')).stdout) as Record<string, unknown>;
}

interface Received {
  ackId: string;
  message: { data?: string; attributes?: Record<string, string>; messageId: string; orderingKey?: string };
}

const pulled = async (sub: string, ...flags: string[]): Promise<Received[]> =>
  ((await json('subscriptions', 'pull', sub, '--limit', '10', ...flags)).receivedMessages as Received[]) ?? [];

describe('bridgehead pubsub', () => {
  test('topics and subscriptions: create, publish, filtered pull, ack, seek, describe, delete', async () => {
    await ok('topics', 'create', 'tel', '--labels', 'env=test');
    const topics = await json('topics', 'list');
    assert.deepEqual((topics.topics as { name: string }[]).map((t) => t.name), ['projects/cli-ps/topics/tel']);

    const sub = await json('subscriptions', 'create', 'all', '--topic', 'tel', '--ack-deadline', '30', '--retain-acked-messages');
    assert.equal(sub.topic, 'projects/cli-ps/topics/tel');
    assert.equal(sub.ackDeadlineSeconds, 30);
    await ok('subscriptions', 'create', 'alerts', '--topic', 'projects/cli-ps/topics/tel', '--filter', 'attributes.subFolder = "alerts"');

    const first = await json('topics', 'publish', 'tel', '--message', 'hot', '--attribute', 'subFolder=alerts,deviceId=d1');
    await ok('topics', 'publish', 'tel', '--message', 'fine', '--attribute', 'deviceId=d2');
    assert.equal((first.messageIds as string[]).length, 1);

    const alerts = await pulled('alerts', '--auto-ack');
    assert.deepEqual(alerts.map((m) => Buffer.from(m.message.data ?? '', 'base64').toString()), ['hot']);
    assert.deepEqual(alerts[0]!.message.attributes, { subFolder: 'alerts', deviceId: 'd1' });
    assert.deepEqual(await pulled('alerts'), [], 'acked with --auto-ack, and the other message does not match the filter');

    const both = await pulled('all');
    assert.deepEqual(both.map((m) => Buffer.from(m.message.data ?? '', 'base64').toString()), ['hot', 'fine']);
    await ok('subscriptions', 'ack', 'all', '--ack-ids', both.map((m) => m.ackId).join(','));
    assert.deepEqual(await pulled('all'), []);

    // Seek to a time before both: retained, they are unacked again (C-PS-SEEK-RETAINED).
    await ok('subscriptions', 'seek', 'all', '--time', '2000-01-01T00:00:00Z');
    assert.equal((await pulled('all')).length, 2);

    const described = await json('subscriptions', 'describe', 'alerts');
    assert.equal(described.filter, 'attributes.subFolder = "alerts"');
    await ok('subscriptions', 'delete', 'alerts');
    await ok('topics', 'delete', 'tel');
    const after = await json('subscriptions', 'describe', 'all');
    assert.equal(after.topic, '_deleted-topic_');
  });

  test('errors: the status and the server message on stderr, exit 1; usage errors exit 2', async () => {
    const missing = await cli(['topics', 'describe', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^ERROR: \(NOT_FOUND\) /m);

    const bad = await cli(['subscriptions', 'create', 'sub-x1', '--topic', 'nope', '--ack-deadline', '5000']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ERROR: \(INVALID_ARGUMENT\) .*ack/im);

    const usage = await cli(['subscriptions', 'seek', 'all']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /exactly one of --time and --snapshot/);
  });

  test('without credentials the listener refuses unless it was started with --grpc-anonymous', async () => {
    const r = await runCli(['pubsub', 'topics', 'list', '--project', 'cli-ps', '--pubsub-endpoint', endpoint], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^ERROR: \(UNAUTHENTICATED\) /m);
  });
});
