import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { PubSub } from '@google-cloud/pubsub';
import { startCluster, type TestCluster } from '../support/cluster.js';
import { PROJECT } from '../support/fleet.js';
import { rawStreamingPull, type RawStream } from '../support/pubsub.js';
import { serviceAccountWithKey } from '../support/service-account-keys.js';
import { runCli, type StartedServer } from '../support/server.js';

/**
 * C-PS-STREAM-AUTH on a cluster: a service account's StreamingPull is served by node B while its
 * role is removed, and its key disabled, through node A. B learns of neither by a message: its
 * periodic check reads the shared store, and ends the stream.
 */

// Read by every node this file starts (each test file runs in its own process).
process.env.BRIDGEHEAD_PUBSUB_STREAM_RECHECK_SECONDS = '1';

describe('open streams on a cluster lose access revoked through another node', () => {
  let cluster: TestCluster;
  let A: StartedServer;
  let B: StartedServer;
  let dir: string;
  let admin: PubSub;

  before(async () => {
    cluster = await startCluster({ nodes: 2, fastPostgres: true });
    [A, B] = cluster.nodes as [StartedServer, StartedServer];
    dir = mkdtempSync(join(tmpdir(), 'bridgehead-cluster-stream-auth-'));
    admin = new PubSub({ projectId: PROJECT, apiEndpoint: String(A.info.grpc).replace(/^grpc:\/\//, ''), emulatorMode: true });
  });
  after(async () => {
    await admin?.close();
    await cluster?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A service account made through node A (with `role` on the project, if given), and its key file's JWT. */
  const serviceAccount = (id: string, role: string | undefined): Promise<{ email: string; keyId: string; jwt: string }> =>
    serviceAccountWithKey(A, { project: PROJECT, dir, id, role });

  /** A raw StreamingPull on node B's plaintext gRPC port, presenting `jwt`. */
  function streamOnB(jwt: string, subscription: string): RawStream {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${jwt}`);
    return rawStreamingPull(String(B.info.grpc).replace(/^grpc:\/\//, ''), credentials.createInsecure(), metadata, `projects/${PROJECT}/subscriptions/${subscription}`);
  }

  async function until(done: () => boolean, what: string, ms = 10_000): Promise<void> {
    const stop = Date.now() + ms;
    while (!done()) {
      if (Date.now() > stop) throw new Error(`${what}: not within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('a role removed through A ends the stream on B with PERMISSION_DENIED; a key disabled through A ends another with UNAUTHENTICATED', async () => {
    const [topic] = await admin.createTopic('revoked-elsewhere');
    const [byRole] = await topic.createSubscription('revoked-elsewhere-role');
    await topic.createSubscription('revoked-elsewhere-key');
    const roleHolder = await serviceAccount('cluster-reader-01', undefined);
    const [policy] = await byRole.iam.getPolicy();
    await byRole.iam.setPolicy({ ...policy, bindings: [{ role: 'roles/pubsub.subscriber', members: [`serviceAccount:${roleHolder.email}`] }] });
    const keyHolder = await serviceAccount('cluster-reader-02', 'roles/pubsub.subscriber');

    const role = streamOnB(roleHolder.jwt, 'revoked-elsewhere-role');
    const key = streamOnB(keyHolder.jwt, 'revoked-elsewhere-key');
    await topic.publishMessage({ data: Buffer.from('one') });
    await until(() => role.data.length === 1 && key.data.length === 1, 'the first message through B');
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual([role.status(), key.status()], [undefined, undefined], 'checks pass while nothing changes');

    const [granted] = await byRole.iam.getPolicy();
    await byRole.iam.setPolicy({ ...granted, bindings: [] });
    await until(() => role.status() !== undefined, 'the role stream ended');
    assert.equal(role.status()!.code, status.PERMISSION_DENIED, role.status()!.details);
    assert.equal(key.status(), undefined);

    const r = await runCli(['service-accounts', 'keys', 'disable', 'cluster-reader-02', keyHolder.keyId, '--project', PROJECT, '--token', A.token], { env: { BRIDGEHEAD_API: A.api } });
    assert.equal(r.code, 0, r.stderr);
    await until(() => key.status() !== undefined, 'the key stream ended');
    assert.equal(key.status()!.code, status.UNAUTHENTICATED, key.status()!.details);

    await topic.publishMessage({ data: Buffer.from('two') });
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual([role.data, key.data], [['one'], ['one']], 'nothing reached either stream after it ended');
    role.close();
    key.close();
  });
});
