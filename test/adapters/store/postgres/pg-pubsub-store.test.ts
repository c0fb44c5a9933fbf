import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { SchemaVersionError } from '../../../../src/adapters/store/postgres/pg-migrations.js';
import { openPgPool } from '../../../../src/adapters/store/postgres/pg-pool.js';
import { PG_PUBSUB_MIGRATIONS } from '../../../../src/adapters/store/postgres/pg-pubsub-migrations.js';
import { PG_RANGE_SQL, PgPubSubStore } from '../../../../src/adapters/store/postgres/pg-pubsub-store.js';
import { ApiError } from '../../../../src/domain/errors.js';
import { DELETED_TOPIC } from '../../../../src/domain/pubsub/pubsub-model.js';
import { pubsubStoreContract } from '../../../contracts/pubsub-store.contract.js';
import { newSub, newTopic, rejectsWithReason, subName, topicName, viewerPolicy } from '../../../contracts/pubsub-store-fixtures.js';
import { startPostgres } from '../../../support/postgres.js';

// One server for the file, started before the contract registers its suites (it probes a store
// while registering); a fresh database per case.
const server = await startPostgres({ fast: true });
after(() => server.cleanup());

pubsubStoreContract('PgPubSubStore', async () => {
  const url = await server.createDatabase();
  return { store: await PgPubSubStore.open(url), reopen: () => PgPubSubStore.open(url) };
});

/** Runs `fn` with a plain connection to `url`, as an operator's psql would. */
async function inspect<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** Two nodes: two stores, each with its own pool, on one database. */
async function twoNodes(): Promise<{ url: string; a: PgPubSubStore; b: PgPubSubStore; close: () => Promise<void> }> {
  const url = await server.createDatabase();
  const [a, b] = await Promise.all([PgPubSubStore.open(url), PgPubSubStore.open(url)]);
  return { url, a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}

/**
 * Resolves once `n` backends of the database at `url` wait for a lock (bounded: a test that never
 * gets there fails). Polled outside any transaction: inside one, pg_stat_activity is a snapshot.
 */
async function waitForLockWaiters(url: string, n: number): Promise<void> {
  await inspect(url, async (c) => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await c.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()");
      if ((r.rows[0].n as number) >= n) return;
      if (Date.now() > deadline) throw new Error(`fewer than ${n} backends waiting for a lock after 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });
}

const isReason = (r: PromiseSettledResult<unknown>, reason: string): boolean =>
  r.status === 'rejected' && r.reason instanceof ApiError && r.reason.reason === reason;

describe('PgPubSubStore specifics', () => {
  it('migrates component "pubsub" to the current version in ps_ tables only; a second open changes nothing', async () => {
    const url = await server.createDatabase();
    await (await PgPubSubStore.open(url)).close();
    const schema = (): Promise<unknown> =>
      inspect(url, async (c) => ({
        versions: (await c.query('SELECT component, version FROM bridgehead_schema ORDER BY component')).rows,
        tables: (await c.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).rows.map((r) => r.tablename as string),
      }));
    const before = await schema();
    assert.deepEqual(before, {
      versions: [{ component: 'pubsub', version: PG_PUBSUB_MIGRATIONS.length }],
      tables: ['bridgehead_schema', 'ps_acks', 'ps_iam_policies', 'ps_snapshots', 'ps_subscriptions', 'ps_topics'],
    });
    await (await PgPubSubStore.open(url)).close();
    assert.deepEqual(await schema(), before);
  });

  it('refuses a database whose pubsub schema is newer, and leaves it untouched', async () => {
    const url = await server.createDatabase();
    await (await PgPubSubStore.open(url)).close();
    await inspect(url, (c) => c.query("UPDATE bridgehead_schema SET version = version + 1 WHERE component = 'pubsub'"));
    await assert.rejects(PgPubSubStore.open(url), (e: unknown) => e instanceof SchemaVersionError && /newer than this Bridgehead supports/.test(e.message));
    const v = await inspect(url, (c) => c.query("SELECT version FROM bridgehead_schema WHERE component = 'pubsub'"));
    assert.equal(v.rows[0].version, PG_PUBSUB_MIGRATIONS.length + 1);
  });

  it('orders names bytewise in a database whose default collation is linguistic', async () => {
    // In en-US, "t-a" < "t-B" < "t_c" < "tZ"; bytewise (the embedded store, clients' sorts) it is "t-B" < "t-a" < "tZ" < "t_c".
    const db = `icu_${process.pid}`;
    await inspect(server.url, (c) => c.query(`CREATE DATABASE ${db} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`));
    const url = server.url.replace(/\/postgres$/, `/${db}`);
    const store = await PgPubSubStore.open(url);
    try {
      for (const id of ['t_c', 't-a', 't-B', 'tZ']) {
        await store.createTopic(newTopic(topicName(id)));
        await store.createSubscription(newSub(subName(id), topicName(id)));
      }
      const expected = ['t-B', 't-a', 'tZ', 't_c'];
      assert.deepEqual((await store.listTopics('proj', undefined, 10)).items.map((t) => t.name), expected.map((id) => topicName(id)));
      const paged = [...(await store.listSubscriptions('proj', undefined, 2)).items, ...(await store.listSubscriptions('proj', subName('t-a'), 2)).items];
      assert.deepEqual(paged.map((s) => s.name), expected.map((id) => subName(id)));
      const linguistic = await inspect(url, (c) => c.query("SELECT array_agg(x ORDER BY x) AS a FROM unnest(ARRAY['t_c', 't-a', 't-B', 'tZ']) x"));
      assert.notDeepEqual(linguistic.rows[0].a, expected, 'the database collation is not linguistic: the test proves nothing');
    } finally {
      await store.close();
    }
  });

  it('keeps only the acks above the floor, and a deleted subscription leaves no ack rows', async () => {
    const url = await server.createDatabase();
    const store = await PgPubSubStore.open(url);
    try {
      await store.createTopic(newTopic(topicName('t')));
      const s = await store.createSubscription(newSub(subName('s'), topicName('t')));
      await store.recordAcks(s.name, Array.from({ length: 1000 }, (_, i) => i + 1), 0);
      await store.recordAcks(s.name, [], 990);
      const rows = async (): Promise<number> => (await inspect(url, (c) => c.query('SELECT count(*)::int AS n FROM ps_acks'))).rows[0].n as number;
      assert.equal(await rows(), 10);
      // An ack a racing batch committed below a floor risen meanwhile (recordAcks' DELETE cannot
      // see it) never counts, and the next raise removes it.
      await inspect(url, (c) => c.query('INSERT INTO ps_acks (subscription_id, seq) SELECT id, 500 FROM ps_subscriptions'));
      assert.deepEqual(await store.loadAckState(s.name), { floor: 990, acked: [991, 992, 993, 994, 995, 996, 997, 998, 999, 1000] });
      await store.recordAcks(s.name, [], 995);
      assert.equal(await rows(), 5);
      await store.deleteSubscription(s.name);
      assert.equal(await rows(), 0);
    } finally {
      await store.close();
    }
  });

  it('lists and ack loads walk an index: no sequential scan, no sort step', async () => {
    const url = await server.createDatabase();
    await (await PgPubSubStore.open(url)).close();
    await inspect(url, async (c) => {
      // Empty tables make a scan and a sort the cheapest plan; make them a last resort, so the plan
      // shows whether an index yields the rows in order.
      await c.query('SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off');
      for (const [name, sql] of Object.entries(PG_RANGE_SQL)) {
        const params = Array.from({ length: (sql.match(/\$\d/g) ?? []).reduce((n, p) => Math.max(n, Number(p.slice(1))), 0) }, () => '1');
        const plan = (await c.query(`EXPLAIN ${sql}`, params)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
        assert.doesNotMatch(plan, /Seq Scan|Sort/, `${name}:\n${plan}`);
      }
    });
  });

  it('a statement stuck behind a lock ends at the statement timeout as UNAVAILABLE (STORE_BUSY), and the next call works', async () => {
    const url = await server.createDatabase();
    const store = await PgPubSubStore.open(url, { statementTimeoutMs: 300 });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await store.createTopic(newTopic(topicName('t')));
      const s = (await store.createSubscription(newSub(subName('s'), topicName('t')))).name;
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM ps_subscriptions WHERE name = $1 FOR UPDATE', [s]);
      const t0 = Date.now();
      await rejectsWithReason(store.recordAcks(s, [1], 0), 'STORE_BUSY');
      await rejectsWithReason(store.setIamPolicy(s, viewerPolicy(), undefined), 'STORE_BUSY');
      assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms`);
      await holder.query('ROLLBACK');
      await store.recordAcks(s, [1], 0);
      assert.deepEqual(await store.loadAckState(s), { floor: 0, acked: [1] });
    } finally {
      await holder.end();
      await store.close();
    }
  });

  it('a store on a shared pool leaves the pool open when it closes', async () => {
    const url = await server.createDatabase();
    const pool = openPgPool(url, { max: 2 });
    try {
      const store = await PgPubSubStore.open(url, { pool });
      await store.createTopic(newTopic(topicName('t')));
      await store.close();
      await rejectsWithReason(store.getTopic(topicName('t')), 'STORE_CLOSED');
      assert.equal((await pool.query('SELECT count(*)::int AS n FROM ps_topics')).rows[0].n, 1);
    } finally {
      await pool.end();
    }
  });
});

describe('PgPubSubStore: two nodes on one database', () => {
  it('2 x 500 acks recorded at once from two nodes on one subscription: none lost', async () => {
    const { a, b, close } = await twoNodes();
    try {
      await a.createTopic(newTopic(topicName('t')));
      const s = (await a.createSubscription(newSub(subName('s'), topicName('t')))).name;
      // Node A acks the odd seqs, node B the even ones, one call each, all in flight together.
      const calls: Promise<void>[] = [];
      for (let i = 1; i <= 500; i++) {
        calls.push(a.recordAcks(s, [2 * i - 1], 0));
        calls.push(b.recordAcks(s, [2 * i], 0));
      }
      await Promise.all(calls);
      const expected = Array.from({ length: 1000 }, (_, i) => i + 1);
      assert.deepEqual(await a.loadAckState(s), { floor: 0, acked: expected });
      assert.deepEqual(await b.loadAckState(s), { floor: 0, acked: expected });
    } finally {
      await close();
    }
  });

  it('acks and rising floors from two nodes at once: the highest floor wins and every ack above it is kept', async () => {
    const { a, b, close } = await twoNodes();
    try {
      await a.createTopic(newTopic(topicName('t')));
      const s = (await a.createSubscription(newSub(subName('s'), topicName('t')))).name;
      // Each call acks two seqs far above every floor and raises the floor to its index.
      const calls: Promise<void>[] = [];
      for (let i = 1; i <= 200; i++) {
        calls.push(a.recordAcks(s, [10_000 + 4 * i, 10_001 + 4 * i], 2 * i - 1));
        calls.push(b.recordAcks(s, [10_002 + 4 * i, 10_003 + 4 * i], 2 * i));
      }
      await Promise.all(calls);
      assert.deepEqual(await a.loadAckState(s), { floor: 400, acked: Array.from({ length: 800 }, (_, i) => 10_004 + i) });
      assert.deepEqual(await b.loadAckState(s), await a.loadAckState(s));
    } finally {
      await close();
    }
  });

  it('a batch with a lower floor queued behind a higher one on another node neither lowers the floor nor brings its seqs back', async () => {
    const { url, a, b, close } = await twoNodes();
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await a.createTopic(newTopic(topicName('t')));
      const s = (await a.createSubscription(newSub(subName('s'), topicName('t')))).name;
      // Both batches start while the row is held, so both read floor 0 before either commits.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM ps_subscriptions WHERE name = $1 FOR UPDATE', [s]);
      const higher = a.recordAcks(s, [25], 20);
      await waitForLockWaiters(url, 1);
      const lower = b.recordAcks(s, [15], 10);
      await waitForLockWaiters(url, 2);
      await holder.query('COMMIT');
      await Promise.all([higher, lower]);
      assert.deepEqual(await a.loadAckState(s), { floor: 20, acked: [25] });
    } finally {
      await holder.end();
      await close();
    }
  });

  it('setIamPolicy from two nodes with one etag: exactly one wins, the other is ABORTED (ETAG_MISMATCH), 20 rounds', async () => {
    const { a, b, close } = await twoNodes();
    try {
      await a.createTopic(newTopic(topicName('t')));
      const s = (await a.createSubscription(newSub(subName('s'), topicName('t')))).name;
      for (let round = 0; round < 20; round++) {
        const resource = round % 2 === 0 ? s : topicName('t');
        const read = await a.getIamPolicy(resource);
        const results = await Promise.allSettled([
          a.setIamPolicy(resource, viewerPolicy(`user:a${round}@example.com`), read.etag),
          b.setIamPolicy(resource, viewerPolicy(`user:b${round}@example.com`), read.etag),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        assert.equal(won.length, 1, `round ${round}`);
        assert.ok(results.some((r) => isReason(r, 'ETAG_MISMATCH')), `round ${round}`);
        assert.deepEqual(await b.getIamPolicy(resource), won[0]!.value);
      }
    } finally {
      await close();
    }
  });

  it('createSubscription of one name from two nodes: one is created, the other is ALREADY_EXISTS, 20 rounds', async () => {
    const { a, b, close } = await twoNodes();
    try {
      await a.createTopic(newTopic(topicName('t')));
      for (let round = 0; round < 20; round++) {
        const name = subName(`s-${round}`);
        const results = await Promise.allSettled([
          a.createSubscription(newSub(name, topicName('t'), { startSeq: 1 })),
          b.createSubscription(newSub(name, topicName('t'), { startSeq: 2 })),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        assert.equal(won.length, 1, `round ${round}`);
        assert.ok(results.some((r) => isReason(r, 'SUBSCRIPTION_EXISTS')), `round ${round}`);
        assert.deepEqual(await a.getSubscription(name), won[0]!.value);
        assert.equal((await b.loadAckState(name)).floor, won[0]!.value.startSeq);
      }
    } finally {
      await close();
    }
  });

  it('a subscription created on one node while another deletes its topic is refused or orphaned, never left on a missing topic, 20 rounds', async () => {
    const { a, b, close } = await twoNodes();
    try {
      for (let round = 0; round < 20; round++) {
        const t = topicName(`t-${round}`);
        const name = subName(`s-${round}`);
        await a.createTopic(newTopic(t));
        const [created, deleted] = await Promise.allSettled([a.createSubscription(newSub(name, t)), b.deleteTopic(t)]);
        assert.equal(deleted.status, 'fulfilled');
        const stored = await b.getSubscription(name);
        if (created.status === 'fulfilled') assert.equal(stored?.topic, DELETED_TOPIC, `round ${round}`);
        else assert.ok(isReason(created, 'TOPIC_NOT_FOUND') && stored === undefined, `round ${round}`);
      }
    } finally {
      await close();
    }
  });

  it('a subscription created while a deleteTopic is between its delete and its orphaning update waits for it, and is refused', async () => {
    const { url, a, b, close } = await twoNodes();
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      const t = topicName('t');
      await a.createTopic(newTopic(t));
      await a.createSubscription(newSub(subName('held'), t));
      // Holding a lock on the topic's existing subscription stops deleteTopic at its orphaning
      // UPDATE, after its DELETE: the window in which a create must not slip a subscription in.
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM ps_subscriptions WHERE name = $1 FOR UPDATE', [subName('held')]);
      const deleting = b.deleteTopic(t);
      await waitForLockWaiters(url, 1);
      let settled = false;
      const creating = a.createSubscription(newSub(subName('late'), t)).finally(() => (settled = true));
      await Promise.race([creating.catch(() => undefined), waitForLockWaiters(url, 2)]);
      assert.equal(settled, false, 'the create did not wait for the deleting transaction');
      await holder.query('COMMIT');
      await deleting;
      await rejectsWithReason(creating, 'TOPIC_NOT_FOUND');
      assert.equal(await b.getSubscription(subName('late')), undefined);
      assert.equal((await b.getSubscription(subName('held')))?.topic, DELETED_TOPIC);
    } finally {
      await holder.end();
      await close();
    }
  });

  it('a policy set on one node while another deletes the resource does not outlive it, 20 rounds', async () => {
    const { a, b, close } = await twoNodes();
    try {
      await a.createTopic(newTopic(topicName('t')));
      for (let round = 0; round < 20; round++) {
        const name = subName(`s-${round}`);
        await a.createSubscription(newSub(name, topicName('t')));
        const [set] = await Promise.allSettled([a.setIamPolicy(name, viewerPolicy(), undefined), b.deleteSubscription(name)]);
        if (set.status === 'rejected') assert.ok(isReason(set, 'SUBSCRIPTION_NOT_FOUND'), String(set.reason));
        // The name comes back as a new subscription with the empty policy.
        await b.createSubscription(newSub(name, topicName('t')));
        assert.deepEqual((await a.getIamPolicy(name)).bindings, [], `round ${round}`);
      }
    } finally {
      await close();
    }
  });
});

describe('PgPubSubStore: PostgreSQL goes away and comes back', () => {
  it('calls in flight and calls made while it is down fail UNAVAILABLE (STORE_UNAVAILABLE) within the connect timeout, and work again after a restart without reopening', async () => {
    const url = await server.createDatabase();
    const store = await PgPubSubStore.open(url, { connectTimeoutMs: 1000, statementTimeoutMs: 3000 });
    try {
      await store.createTopic(newTopic(topicName('t')));
      const s = (await store.createSubscription(newSub(subName('s'), topicName('t')))).name;
      await store.recordAcks(s, [1, 2], 0);
      // The file's server runs without synchronous commit (fast: true): a checkpoint puts what the
      // test wrote into the OS's hands, so the kill tests the store, not the server's durability.
      await inspect(url, (c) => c.query('CHECKPOINT'));
      // Two calls in flight when it dies, held behind a row lock: a lone statement and a transaction.
      const holder = new pg.Client({ connectionString: url });
      holder.on('error', () => undefined);
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM ps_subscriptions WHERE name = $1 FOR UPDATE', [s]);
      const inFlight = Promise.allSettled([store.recordAcks(s, [9], 0), store.setIamPolicy(s, viewerPolicy(), undefined)]);
      await waitForLockWaiters(url, 2);
      const killedAt = Date.now();
      await server.stop('kill');
      for (const r of await inFlight) assert.ok(isReason(r, 'STORE_UNAVAILABLE'), r.status === 'rejected' ? String(r.reason) : 'fulfilled');
      assert.ok(Date.now() - killedAt < 2500, `in-flight calls took ${Date.now() - killedAt} ms to fail`);
      await holder.end().catch(() => undefined);
      for (const call of [() => store.getTopic(topicName('t')), () => store.recordAcks(s, [3], 0), () => store.deleteTopic(topicName('t'))]) {
        const t0 = Date.now();
        await rejectsWithReason(call(), 'STORE_UNAVAILABLE');
        assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms`);
      }
      await server.start();
      assert.equal((await store.getTopic(topicName('t')))?.revision, 1);
      await store.recordAcks(s, [3], 0);
      assert.deepEqual(await store.loadAckState(s), { floor: 0, acked: [1, 2, 3] });
      assert.deepEqual((await store.getIamPolicy(s)).bindings, []);
    } finally {
      await store.close();
    }
  });
});
