import type pg from 'pg';
import { EMPTY_POLICY, nextPolicy, withoutMember } from '../../../domain/iam-policy.js';
import type { IamPolicy } from '../../../domain/model.js';
import { pageOf, type Page } from '../../../domain/paging.js';
import { DELETED_TOPIC, type AckState, type PsSnapshot, type PsSubscription, type PsSubscriptionVersion, type PsTopic } from '../../../domain/pubsub/pubsub-model.js';
import type { PubSubStore } from '../../../services/pubsub/pubsub-ports.js';
import * as err from '../pubsub-store-errors.js';
import { likeMember } from '../sqlite/codec.js';
import { isRetryable, pgErrorTranslator } from './pg-errors.js';
import { migratePostgres } from './pg-migrations.js';
import { inTransaction, openPgPool, type PgPoolOptions } from './pg-pool.js';
import {
  decodeIam,
  decodeSnapshot,
  decodeSubscription,
  decodeTopic,
  encodeSubscriptionDoc,
  normalizedAcks,
  PS_TYPES,
  type IamRow,
  type PgSnapshotRow,
  type SubscriptionRow,
  type TopicRow,
} from './pg-pubsub-codec.js';
import { PG_PUBSUB_MIGRATIONS } from './pg-pubsub-migrations.js';

/**
 * The name range of one project's resources of one kind: every name under `prefix` is >= it and
 * < the prefix with its final '/' replaced by the next character, so a list is an index range scan.
 */
function range(prefix: string, after: string | undefined): { from: string; to: string } {
  const to = `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`;
  return { from: after !== undefined && after >= prefix ? after : prefix, to };
}

const pageSize = (limit: number): number => Math.max(1, Math.floor(limit));

const TOPIC_COLS = 'name, labels, retention_ms, create_time, revision';
const SUB_COLS = 'name, topic, filter, start_seq, create_time, doc, revision';
const SNAP_COLS = 'name, topic, expire_time, labels, ack_floor, acked';

/** The statements that read many rows, exported so a test can check each walks an index. */
export const PG_RANGE_SQL = {
  // `from` is exclusive when it is a previous page's last name and harmless when it is the prefix.
  listTopics: `SELECT ${TOPIC_COLS} FROM ps_topics WHERE name > $1 AND name < $2 ORDER BY name LIMIT $3`,
  listSubscriptions: `SELECT ${SUB_COLS} FROM ps_subscriptions WHERE name > $1 AND name < $2 ORDER BY name LIMIT $3`,
  listAllSubscriptions: `SELECT ${SUB_COLS} FROM ps_subscriptions WHERE name > $1 ORDER BY name LIMIT $2`,
  listTopicSubscriptions: 'SELECT name FROM ps_subscriptions WHERE topic = $1 AND name > $2 ORDER BY name LIMIT $3',
  listSnapshots: `SELECT ${SNAP_COLS} FROM ps_snapshots WHERE name > $1 AND name < $2 AND expire_time > $3 ORDER BY name LIMIT $4`,
  listTopicSnapshots: 'SELECT name FROM ps_snapshots WHERE topic = $1 AND name > $2 AND expire_time > $3 ORDER BY name LIMIT $4',
  // The set may briefly hold seqs at or below the floor (see recordAcks): they never count.
  loadAckState: `SELECT s.ack_floor,
      ARRAY(SELECT a.seq FROM ps_acks a WHERE a.subscription_id = s.id AND a.seq > s.ack_floor ORDER BY a.seq) AS acked
    FROM ps_subscriptions s WHERE s.name = $1`,
} as const;

/**
 * Subscribers' hot path in one statement, so one round trip and the shortest possible hold of
 * the subscription's row lock, which serialises batches of one subscription across nodes. The
 * lock is taken first (`head`); a batch that waited for it reads the floor the other one raised.
 * Its DELETE sees the statement's snapshot, taken before the wait, so acks another node committed
 * meanwhile may stay below the new floor: loading filters them, and the next raise removes them.
 */
const RECORD_ACKS_SQL = `
  WITH head AS (
    SELECT id, ack_floor FROM ps_subscriptions WHERE name = $1 FOR NO KEY UPDATE
  ), raised AS (
    UPDATE ps_subscriptions s SET ack_floor = $3 FROM head WHERE s.id = head.id AND head.ack_floor < $3 RETURNING s.id
  ), dropped AS (
    DELETE FROM ps_acks a USING raised WHERE a.subscription_id = raised.id AND a.seq <= $3
  )
  INSERT INTO ps_acks (subscription_id, seq)
  SELECT head.id, x FROM head, unnest($2::bigint[]) AS x WHERE x > GREATEST(head.ack_floor, $3)
  ON CONFLICT DO NOTHING`;

/** The table holding each kind of resource, for IAM: its row lock serialises that resource's policy writes. */
const RESOURCE_TABLE = { topic: 'ps_topics', subscription: 'ps_subscriptions', snapshot: 'ps_snapshots' } as const;

type Db = pg.Pool | pg.PoolClient;

/**
 * Every statement with the store's type parsers. Unnamed (not prepared per connection): planning
 * is a small part of a round trip here, and named statements break behind PgBouncer's transaction
 * pooling, which operators often put in front of PostgreSQL.
 */
const q = <R extends pg.QueryResultRow>(db: Db, text: string, values: unknown[]): Promise<pg.QueryResult<R>> =>
  db.query<R>({ text, values, types: PS_TYPES });

/** Serialization failures and deadlocks are the server's "try again": a few attempts, then STORE_BUSY. */
const MAX_ATTEMPTS = 3;

export type PgPubSubStoreOptions = PgPoolOptions & {
  /** A pool to share (with the registry store); the store then leaves it open on close. */
  pool?: pg.Pool;
};

/**
 * The PubSubStore port on PostgreSQL, for several nodes on one database. Single-row conditional
 * writes are one statement (the row lock and its re-check decide races); anything touching
 * several rows is one READ COMMITTED transaction that first locks the row it hangs on, and reads
 * after the lock so it sees what a racing writer committed. A failed call changes nothing.
 */
export class PgPubSubStore implements PubSubStore {
  private closed = false;

  private readonly translate = pgErrorTranslator('Pub/Sub store', false);

  private constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
  ) {}

  static async open(url: string, opts: PgPubSubStoreOptions = {}): Promise<PgPubSubStore> {
    const { pool: shared, ...poolOpts } = opts;
    const pool = shared ?? openPgPool(url, { applicationName: 'bridgehead-pubsub', ...poolOpts });
    try {
      await migratePostgres(pool, 'pubsub', PG_PUBSUB_MIGRATIONS);
      return new PgPubSubStore(pool, shared === undefined);
    } catch (e) {
      if (!shared) await pool.end().catch(() => undefined);
      throw e;
    }
  }

  async createTopic(topic: Omit<PsTopic, 'revision'>): Promise<PsTopic> {
    return this.call(async () => {
      const r = await q(
        this.pool,
        'INSERT INTO ps_topics (name, labels, retention_ms, create_time, revision) VALUES ($1, $2, $3, $4, 1) ON CONFLICT (name) DO NOTHING',
        [topic.name, JSON.stringify(topic.labels), topic.messageRetentionMs ?? null, topic.createTime],
      );
      if (r.rowCount === 0) throw err.psExists('topic', topic.name);
      return { ...topic, labels: { ...topic.labels }, messageRetentionMs: topic.messageRetentionMs ?? undefined, revision: 1 };
    });
  }

  async getTopic(name: string): Promise<PsTopic | undefined> {
    return this.call(async () => {
      const row = (await this.topicRow(this.pool, name))[0];
      return row && decodeTopic(row);
    });
  }

  async listTopics(project: string, after: string | undefined, limit: number): Promise<Page<PsTopic>> {
    return this.call(async () => {
      const n = pageSize(limit);
      const { from, to } = range(err.projectPrefix(project, 'topics'), after);
      const r = await q<TopicRow>(this.pool, PG_RANGE_SQL.listTopics, [from, to, n + 1]);
      return pageOf(r.rows.map(decodeTopic), n, (t) => t.name);
    });
  }

  async updateTopic(topic: PsTopic): Promise<PsTopic> {
    return this.call(async () => {
      const r = await q<TopicRow>(
        this.pool,
        `UPDATE ps_topics SET labels = $1, retention_ms = $2, revision = revision + 1 WHERE name = $3 AND revision = $4 RETURNING ${TOPIC_COLS}`,
        [JSON.stringify(topic.labels), topic.messageRetentionMs ?? null, topic.name, topic.revision],
      );
      if (r.rows[0]) return decodeTopic(r.rows[0]);
      throw (await this.topicRow(this.pool, topic.name)).length > 0 ? err.psRevisionConflict('topic', topic.name) : err.psNotFound('topic', topic.name);
    });
  }

  async deleteTopic(name: string): Promise<void> {
    await this.tx(async (c) => {
      // The DELETE waits for a createSubscription holding the topic (FOR SHARE); the UPDATE after
      // it is a new statement, so it sees that subscription and orphans it too.
      if ((await q(c, 'DELETE FROM ps_topics WHERE name = $1', [name])).rowCount === 0) throw err.psNotFound('topic', name);
      await this.deletePolicy(c, name);
      await q(c, 'UPDATE ps_subscriptions SET topic = $1, revision = revision + 1 WHERE topic = $2', [DELETED_TOPIC, name]);
    });
  }

  async createSubscription(s: Omit<PsSubscription, 'revision'>): Promise<PsSubscription> {
    return this.call(async () => {
      // FOR SHARE holds the topic until the insert commits: a racing deleteTopic then finds the
      // subscription to orphan, or deleted the topic first and the insert finds none.
      const r = await q<SubscriptionRow>(
        this.pool,
        `INSERT INTO ps_subscriptions (name, topic, filter, start_seq, create_time, doc, revision, ack_floor)
         SELECT $1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::text, 1, $4::bigint
         WHERE EXISTS (SELECT 1 FROM ps_topics WHERE name = $2::text FOR SHARE)
         ON CONFLICT (name) DO NOTHING
         RETURNING ${SUB_COLS}`,
        [s.name, s.topic, s.filter, s.startSeq, s.createTime, encodeSubscriptionDoc(s)],
      );
      if (r.rows[0]) return decodeSubscription(r.rows[0]);
      throw (await this.subscriptionId(this.pool, s.name)) !== undefined ? err.psExists('subscription', s.name) : err.psNotFound('topic', s.topic);
    });
  }

  async getSubscription(name: string): Promise<PsSubscription | undefined> {
    return this.call(async () => {
      const r = await q<SubscriptionRow>(this.pool, `SELECT ${SUB_COLS} FROM ps_subscriptions WHERE name = $1`, [name]);
      return r.rows[0] && decodeSubscription(r.rows[0]);
    });
  }

  async listSubscriptions(project: string, after: string | undefined, limit: number): Promise<Page<PsSubscription>> {
    return this.call(async () => {
      const n = pageSize(limit);
      const { from, to } = range(err.projectPrefix(project, 'subscriptions'), after);
      const r = await q<SubscriptionRow>(this.pool, PG_RANGE_SQL.listSubscriptions, [from, to, n + 1]);
      return pageOf(r.rows.map(decodeSubscription), n, (s) => s.name);
    });
  }

  async listAllSubscriptions(after: string | undefined, limit: number): Promise<Page<PsSubscription>> {
    return this.call(async () => {
      const n = pageSize(limit);
      const r = await q<SubscriptionRow>(this.pool, PG_RANGE_SQL.listAllSubscriptions, [after ?? '', n + 1]);
      return pageOf(r.rows.map(decodeSubscription), n, (s) => s.name);
    });
  }

  async listTopicSubscriptions(topic: string, after: string | undefined, limit: number): Promise<Page<string>> {
    return this.call(async () => {
      const n = pageSize(limit);
      const r = await q<{ name: string }>(this.pool, PG_RANGE_SQL.listTopicSubscriptions, [topic, after ?? '', n + 1]);
      return pageOf(
        r.rows.map((row) => row.name),
        n,
        (name) => name,
      );
    });
  }

  async updateSubscription(s: PsSubscription): Promise<PsSubscription> {
    return this.call(async () => {
      const r = await q<SubscriptionRow>(
        this.pool,
        `UPDATE ps_subscriptions SET doc = $1, revision = revision + 1 WHERE name = $2 AND revision = $3 RETURNING ${SUB_COLS}`,
        [encodeSubscriptionDoc(s), s.name, s.revision],
      );
      if (r.rows[0]) return decodeSubscription(r.rows[0]);
      throw (await this.subscriptionId(this.pool, s.name)) !== undefined
        ? err.psRevisionConflict('subscription', s.name)
        : err.psNotFound('subscription', s.name);
    });
  }

  async deleteSubscription(name: string, revision?: number): Promise<void> {
    await this.tx(async (c) => {
      // Its acks go with it (ON DELETE CASCADE).
      const deleted = await q(c, 'DELETE FROM ps_subscriptions WHERE name = $1 AND ($2::bigint IS NULL OR revision = $2::bigint)', [name, revision ?? null]);
      if (deleted.rowCount === 0) {
        throw revision !== undefined && (await this.subscriptionId(c, name)) !== undefined
          ? err.psRevisionConflict('subscription', name)
          : err.psNotFound('subscription', name);
      }
      await this.deletePolicy(c, name);
    });
  }

  async replaceSubscription(current: PsSubscriptionVersion, r: Omit<PsSubscription, 'name' | 'revision'>): Promise<PsSubscription> {
    const name = current.name;
    return this.tx(async (c) => {
      // The row lock taken here holds back a concurrent replacement until this one commits; it then
      // finds the new row, whose createTime and revision are not the ones it read.
      const deleted = await q(c, 'DELETE FROM ps_subscriptions WHERE name = $1 AND revision = $2 AND create_time = $3', [
        name,
        current.revision,
        current.createTime,
      ]);
      if (deleted.rowCount === 0) {
        throw (await this.subscriptionId(c, name)) !== undefined ? err.psRevisionConflict('subscription', name) : err.psNotFound('subscription', name);
      }
      // As deleteSubscription: its acks went with it (ON DELETE CASCADE); its policy goes too.
      await this.deletePolicy(c, name);
      const s = { ...r, name };
      // FOR SHARE: as createSubscription, against a racing deleteTopic.
      const inserted = await q<SubscriptionRow>(
        c,
        `INSERT INTO ps_subscriptions (name, topic, filter, start_seq, create_time, doc, revision, ack_floor)
         SELECT $1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::text, $7::bigint, $4::bigint
         WHERE EXISTS (SELECT 1 FROM ps_topics WHERE name = $2::text FOR SHARE)
         RETURNING ${SUB_COLS}`,
        [name, s.topic, s.filter, s.startSeq, s.createTime, encodeSubscriptionDoc(s), current.revision + 1],
      );
      // Thrown inside the transaction: the old subscription is kept.
      if (!inserted.rows[0]) throw err.psNotFound('topic', s.topic);
      return decodeSubscription(inserted.rows[0]);
    });
  }

  async loadAckState(subscription: string): Promise<AckState> {
    return this.call(async () => {
      const r = await q<{ ack_floor: number; acked: number[] }>(this.pool, PG_RANGE_SQL.loadAckState, [subscription]);
      const row = r.rows[0];
      if (!row) throw err.psNotFound('subscription', subscription);
      return { floor: row.ack_floor, acked: row.acked };
    });
  }

  async recordAcks(subscription: string, acked: readonly number[], floor: number): Promise<void> {
    await this.call(() => this.retrying(() => q(this.pool, RECORD_ACKS_SQL, [subscription, acked, floor])));
  }

  async replaceAckState(subscription: string, state: AckState): Promise<void> {
    await this.tx(async (c) => {
      // The UPDATE takes the row lock first, so the DELETE after it sees every ack committed before.
      const head = await q<{ id: number }>(c, 'UPDATE ps_subscriptions SET ack_floor = $1 WHERE name = $2 RETURNING id', [
        state.floor,
        subscription,
      ]);
      const id = head.rows[0]?.id;
      if (id === undefined) throw err.psNotFound('subscription', subscription);
      await q(c, 'DELETE FROM ps_acks WHERE subscription_id = $1', [id]);
      const acked = normalizedAcks(state.acked, state.floor);
      if (acked.length > 0) {
        await q(c, 'INSERT INTO ps_acks (subscription_id, seq) SELECT $1, unnest($2::bigint[])', [id, acked]);
      }
    });
  }

  async createSnapshot(snapshot: PsSnapshot, now?: number): Promise<PsSnapshot> {
    const acked = normalizedAcks(snapshot.ackState.acked, snapshot.ackState.floor);
    await this.tx(async (c) => {
      const held = await q<{ expire_time: number }>(c, 'SELECT expire_time FROM ps_snapshots WHERE name = $1 FOR UPDATE', [
        snapshot.name,
      ]);
      const holder = held.rows[0];
      if (holder) {
        if (now === undefined || holder.expire_time > now) throw err.psExists('snapshot', snapshot.name);
        // The expired holder goes, and its policy with it: the new snapshot starts afresh (C-PS-SNAPSHOT-EXPIRY).
        await q(c, 'DELETE FROM ps_snapshots WHERE name = $1', [snapshot.name]);
        await this.deletePolicy(c, snapshot.name);
      }
      const r = await q(
        c,
        `INSERT INTO ps_snapshots (${SNAP_COLS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING`,
        [snapshot.name, snapshot.topic, snapshot.expireTime, JSON.stringify(snapshot.labels), snapshot.ackState.floor, acked],
      );
      // Another node created it between our look and our insert.
      if (r.rowCount === 0) throw err.psExists('snapshot', snapshot.name);
    });
    return { ...snapshot, labels: { ...snapshot.labels }, ackState: { floor: snapshot.ackState.floor, acked } };
  }

  async getSnapshot(name: string, now: number): Promise<PsSnapshot | undefined> {
    return this.call(async () => {
      const r = await q<PgSnapshotRow>(this.pool, `SELECT ${SNAP_COLS} FROM ps_snapshots WHERE name = $1 AND expire_time > $2`, [
        name,
        now,
      ]);
      return r.rows[0] && decodeSnapshot(r.rows[0]);
    });
  }

  async listSnapshots(project: string, after: string | undefined, limit: number, now: number): Promise<Page<PsSnapshot>> {
    return this.call(async () => {
      const n = pageSize(limit);
      const { from, to } = range(err.projectPrefix(project, 'snapshots'), after);
      const r = await q<PgSnapshotRow>(this.pool, PG_RANGE_SQL.listSnapshots, [from, to, now, n + 1]);
      return pageOf(r.rows.map(decodeSnapshot), n, (s) => s.name);
    });
  }

  async listTopicSnapshots(topic: string, after: string | undefined, limit: number, now: number): Promise<Page<string>> {
    return this.call(async () => {
      const n = pageSize(limit);
      const r = await q<{ name: string }>(this.pool, PG_RANGE_SQL.listTopicSnapshots, [topic, after ?? '', now, n + 1]);
      return pageOf(
        r.rows.map((row) => row.name),
        n,
        (name) => name,
      );
    });
  }

  async updateSnapshot(snapshot: PsSnapshot): Promise<PsSnapshot> {
    return this.call(async () => {
      const r = await q<PgSnapshotRow>(
        this.pool,
        `UPDATE ps_snapshots SET labels = $1, expire_time = $2 WHERE name = $3 RETURNING ${SNAP_COLS}`,
        [JSON.stringify(snapshot.labels), snapshot.expireTime, snapshot.name],
      );
      if (!r.rows[0]) throw err.psNotFound('snapshot', snapshot.name);
      return decodeSnapshot(r.rows[0]);
    });
  }

  async deleteSnapshot(name: string): Promise<void> {
    await this.tx(async (c) => {
      if ((await q(c, 'DELETE FROM ps_snapshots WHERE name = $1', [name])).rowCount === 0) throw err.psNotFound('snapshot', name);
      await this.deletePolicy(c, name);
    });
  }

  async getIamPolicy(resource: string): Promise<IamPolicy> {
    return this.call(async () => {
      const kind = err.parsePsName(resource)?.kind;
      if (!kind) throw err.psResourceNotFound(resource);
      // One statement: the resource's existence and its policy from one snapshot.
      const r = await q<{ [K in keyof IamRow]: IamRow[K] | null }>(
        this.pool,
        `SELECT p.version, p.bindings, p.etag FROM ${RESOURCE_TABLE[kind]} r LEFT JOIN ps_iam_policies p ON p.resource = r.name WHERE r.name = $1`,
        [resource],
      );
      const row = r.rows[0];
      if (!row) throw err.psResourceNotFound(resource);
      return row.version === null ? { ...EMPTY_POLICY, bindings: [] } : decodeIam(row as IamRow);
    });
  }

  async setIamPolicy(resource: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    const kind = err.parsePsName(resource)?.kind;
    if (!kind) return this.call(() => Promise.reject(err.psResourceNotFound(resource)));
    return this.tx(async (c) => {
      // The resource's row lock serialises its policy writers on every node (a policy row may not
      // exist yet to lock) and keeps a delete from slipping in; the policy is read after it.
      const held = await q(c, `SELECT 1 FROM ${RESOURCE_TABLE[kind]} WHERE name = $1 FOR NO KEY UPDATE`, [resource]);
      if (held.rowCount === 0) throw err.psResourceNotFound(resource);
      const current = (await q<IamRow>(c, 'SELECT version, bindings, etag FROM ps_iam_policies WHERE resource = $1', [resource])).rows[0];
      const next = nextPolicy(current ? decodeIam(current) : { ...EMPTY_POLICY, bindings: [] }, policy, expectedEtag);
      await q(
        c,
        `INSERT INTO ps_iam_policies (resource, version, bindings, etag) VALUES ($1, $2, $3, $4)
         ON CONFLICT (resource) DO UPDATE SET version = EXCLUDED.version, bindings = EXCLUDED.bindings, etag = EXCLUDED.etag`,
        [resource, next.version, JSON.stringify(next.bindings), Buffer.from(next.etag)],
      );
      return next;
    });
  }

  async removeIamMember(member: string): Promise<void> {
    await this.tx(async (c) => {
      // Row locks: a concurrent setIamPolicy of one of these resources waits, then reads the result.
      const rows = await q<IamRow & { resource: string }>(
        c,
        "SELECT resource, version, bindings, etag FROM ps_iam_policies WHERE bindings ILIKE $1 ESCAPE '\\' FOR UPDATE",
        [likeMember(member)],
      );
      for (const row of rows.rows) {
        const policy = decodeIam(row);
        const bindings = withoutMember(policy.bindings, member);
        if (!bindings) continue;
        const next = nextPolicy(policy, { version: policy.version, bindings }, undefined);
        await q(c, 'UPDATE ps_iam_policies SET version = $2, bindings = $3, etag = $4 WHERE resource = $1', [
          row.resource,
          next.version,
          JSON.stringify(next.bindings),
          Buffer.from(next.etag),
        ]);
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }

  private topicRow(db: Db, name: string): Promise<TopicRow[]> {
    return q<TopicRow>(db, `SELECT ${TOPIC_COLS} FROM ps_topics WHERE name = $1`, [name]).then((r) => r.rows);
  }

  private async subscriptionId(db: Db, name: string): Promise<number | undefined> {
    return (await q<{ id: number }>(db, 'SELECT id FROM ps_subscriptions WHERE name = $1', [name])).rows[0]?.id;
  }

  private async deletePolicy(c: pg.PoolClient, resource: string): Promise<void> {
    await q(c, 'DELETE FROM ps_iam_policies WHERE resource = $1', [resource]);
  }

  /** Every call: refused once closed, driver errors in the store's vocabulary. */
  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw err.psStoreClosed();
    try {
      return await fn();
    } catch (e) {
      throw this.translate(e);
    }
  }

  private tx<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.call(() => this.retrying(() => inTransaction(this.pool, fn)));
  }

  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (attempt >= MAX_ATTEMPTS || !isRetryable(e)) throw e;
      }
    }
  }
}
