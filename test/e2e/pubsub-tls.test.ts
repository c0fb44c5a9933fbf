import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { PubSub } from '@google-cloud/pubsub';
import { Collector, rawStreamingPull, type RawStream } from '../support/pubsub.js';
import { serviceAccountWithKey } from '../support/service-account-keys.js';
import { runCli, startServer, type StartedServer } from '../support/server.js';

/**
 * Pub/Sub on the TLS API port, where every call needs credentials: backends authenticate with
 * Bridgehead-issued service-account keys (the JWT exchanged for an access token at the key's
 * token_uri, as google-auth-library does) and are held to their Pub/Sub roles.
 */

const P = 'ps-tls-proj';

describe('Pub/Sub over the TLS API port with service-account credentials', () => {
  let server: StartedServer;
  let dir: string;
  const clients: PubSub[] = [];

  /** A PubSub client on the TLS port presenting `token()` as its bearer, trusting the server's CA. */
  function client(token: (() => Promise<string>) | undefined): PubSub {
    const port = new URL(String(server.info.apiTls)).port;
    const ssl = credentials.createSsl(readFileSync(server.info.caFile));
    const bearer = credentials.createFromMetadataGenerator((_params, callback) => {
      const metadata = new Metadata();
      if (!token) return callback(null, metadata);
      token().then(
        (t) => {
          metadata.set('authorization', `Bearer ${t}`);
          callback(null, metadata);
        },
        (e: Error) => callback(e),
      );
    });
    // The generated certificate names localhost, not the address.
    const pubsub = new PubSub({ projectId: P, apiEndpoint: `localhost:${port}`, emulatorMode: false, sslCreds: credentials.combineChannelCredentials(ssl, bearer) });
    clients.push(pubsub);
    return pubsub;
  }

  /** A service account holding `role` on the project (none: no project role), and a client authenticated by its key file. */
  async function serviceAccount(id: string, role: string | undefined): Promise<PubSub> {
    const { jwt } = await serviceAccountKey(id, role);
    return client(async () => jwt);
  }

  /** A service account holding `role` on the project (none: no project role), its key's ID and its key file's JWT. */
  const serviceAccountKey = (id: string, role: string | undefined): Promise<{ email: string; keyId: string; jwt: string }> =>
    serviceAccountWithKey(server, { project: P, dir, id, role });

  /** A raw StreamingPull on the TLS port presenting `bearer` (see rawStreamingPull). */
  function rawStream(bearer: string, subscription: string): RawStream {
    const port = new URL(String(server.info.apiTls)).port;
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${bearer}`);
    return rawStreamingPull(`localhost:${port}`, credentials.createSsl(readFileSync(server.info.caFile)), metadata, `projects/${P}/subscriptions/${subscription}`);
  }

  before(async () => {
    // Open streams are checked again every second here (30 s by default): revocation tests stay short.
    server = await startServer({ args: ['--api-tls-listen', '127.0.0.1:0'], env: { BRIDGEHEAD_PUBSUB_STREAM_RECHECK_SECONDS: '1' } });
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-ps-tls-'));
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('calls without credentials are refused; an editor sets up, a publisher publishes, a subscriber streams; each only that', async () => {
    await assert.rejects(client(undefined).createTopic('anon-topic'), (e: ServiceError) => e.code === status.UNAUTHENTICATED);
    const editor = await serviceAccount('ps-editor-01', 'roles/pubsub.editor');
    const publisher = await serviceAccount('ps-publisher-01', 'roles/pubsub.publisher');
    const subscriber = await serviceAccount('ps-subscriber-01', 'roles/pubsub.subscriber');

    const [topic] = await editor.createTopic('secure');
    await topic.createSubscription('secure-sub');
    await assert.rejects(publisher.createTopic('not-mine'), (e: ServiceError) => e.code === status.PERMISSION_DENIED);
    await assert.rejects(subscriber.topic('secure').publishMessage({ data: Buffer.from('x') }), (e: ServiceError) => e.code === status.PERMISSION_DENIED);

    const ids = await Promise.all(['a', 'b', 'c'].map((d) => publisher.topic('secure').publishMessage({ data: Buffer.from(d), attributes: { d } })));
    const collector = new Collector(subscriber.subscription('secure-sub'));
    const got = await collector.next(3);
    await collector.close();
    assert.deepEqual(got.map((m) => m.id).sort(), [...ids].sort());
    assert.deepEqual(got.map((m) => m.data.toString()).sort(), ['a', 'b', 'c']);
  });

  test("a role on the topic itself lets an account without project roles publish; deleting the account takes the grant along", async () => {
    const admin = client(async () => server.token);
    const [topic] = await admin.createTopic('granted');
    const email = `ps-topic-pub-01@${P}.iam.gserviceaccount.com`;
    const publisher = await serviceAccount('ps-topic-pub-01', undefined);
    await assert.rejects(publisher.topic('granted').publishMessage({ data: Buffer.from('x') }), (e: ServiceError) => e.code === status.PERMISSION_DENIED);
    const [policy] = await topic.iam.getPolicy();
    await topic.iam.setPolicy({ ...policy, bindings: [{ role: 'roles/pubsub.publisher', members: [`serviceAccount:${email}`] }] });
    assert.ok(await publisher.topic('granted').publishMessage({ data: Buffer.from('x') }));
    await assert.rejects(publisher.topic('secure').publishMessage({ data: Buffer.from('x') }), (e: ServiceError) => e.code === status.PERMISSION_DENIED);

    const r = await runCli(['service-accounts', 'delete', 'ps-topic-pub-01', '--project', P, '--token', server.token], { env: { BRIDGEHEAD_API: server.api } });
    assert.equal(r.code, 0, r.stderr);
    const [after] = await topic.iam.getPolicy();
    assert.deepEqual(after.bindings ?? [], [], 'the deleted account is in no topic policy');
  });

  test('a stream the server ends while the client keeps its side open gets its status at once through the port (deleting the subscription: NOT_FOUND)', async () => {
    const admin = client(async () => server.token);
    const [topic] = await admin.createTopic('ended-by-server');
    const [sub] = await topic.createSubscription('ended-by-server-sub');
    const stream = rawStream(server.token, 'ended-by-server-sub');
    await topic.publishMessage({ data: Buffer.from('m') });
    for (let i = 0; i < 200 && stream.data.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(stream.data, ['m']);
    await sub.delete();
    const ended = await withinMs(stream.ended, 5_000);
    assert.equal(ended.code, status.NOT_FOUND, ended.details);
    stream.close();
  });

  test('an open stream ends once its caller loses the role on the subscription (PERMISSION_DENIED) or its key (UNAUTHENTICATED); nothing more reaches it', async () => {
    const admin = client(async () => server.token);
    const [topic] = await admin.createTopic('revocable');
    const [byRole] = await topic.createSubscription('revocable-role');
    await topic.createSubscription('revocable-key');
    await topic.createSubscription('revocable-lib');
    const email = `ps-revoked-01@${P}.iam.gserviceaccount.com`;
    const roleHolder = await serviceAccountKey('ps-revoked-01', undefined);
    const [policy] = await byRole.iam.getPolicy();
    await byRole.iam.setPolicy({ ...policy, bindings: [{ role: 'roles/pubsub.subscriber', members: [`serviceAccount:${email}`] }] });
    const keyHolder = await serviceAccountKey('ps-revoked-02', 'roles/pubsub.subscriber');
    // The same key through the client library: its subscriber stops receiving too.
    const library = new Collector(client(async () => keyHolder.jwt).subscription('revocable-lib'));

    const role = rawStream(roleHolder.jwt, 'revocable-role');
    const key = rawStream(keyHolder.jwt, 'revocable-key');
    await topic.publishMessage({ data: Buffer.from('one') });
    await library.next(1);
    const seen = async (stream: { data: string[] }, n: number): Promise<void> => {
      for (let i = 0; i < 200 && stream.data.length < n; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(stream.data.length, n, `stream got ${JSON.stringify(stream.data)}`);
    };
    await seen(role, 1);
    await seen(key, 1);
    // Several rounds of checks pass while nothing changes.
    await new Promise((r) => setTimeout(r, 2_500));
    assert.deepEqual([role.status(), key.status()], [undefined, undefined], 'both streams still open');

    const [granted] = await byRole.iam.getPolicy();
    await byRole.iam.setPolicy({ ...granted, bindings: [] });
    const denied = await withinMs(role.ended, 10_000);
    assert.equal(denied.code, status.PERMISSION_DENIED, denied.details);
    assert.match(denied.details, /pubsub\.subscriptions\.consume/);
    await topic.publishMessage({ data: Buffer.from('two') });
    await seen(key, 2);
    assert.equal(key.status(), undefined, 'the other stream is untouched');

    const r = await runCli(['service-accounts', 'keys', 'disable', 'ps-revoked-02', keyHolder.keyId, '--project', P, '--token', server.token], { env: { BRIDGEHEAD_API: server.api } });
    assert.equal(r.code, 0, r.stderr);
    const revoked = await withinMs(key.ended, 10_000);
    assert.equal(revoked.code, status.UNAUTHENTICATED, revoked.details);
    assert.match(revoked.details, /disabled/);
    const libraryError = (await library.firstError(10_000)) as ServiceError;
    assert.equal(libraryError.code, status.UNAUTHENTICATED, 'the client library reports the end of its streams');
    // Both raw streams and the library's have ended once the key's did: a message now reaches none of them.
    await new Promise((r) => setTimeout(r, 1_500));
    await topic.publishMessage({ data: Buffer.from('three') });
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual([role.data, key.data], [['one'], ['one', 'two']]);
    assert.deepEqual(library.messages.map((m) => m.data.toString()), ['one', 'two'], 'the library subscriber got nothing after its key was disabled');
    role.close();
    key.close();
    await library.close();
  });
});

/** `p`, or a rejection naming the wait if it takes longer than `ms`. */
function withinMs<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms);
    }),
  ]);
}
