import Database from 'better-sqlite3';
import { emptyPolicy, nextPolicy, withoutMember } from '../../../domain/iam-policy.js';
import type { IamPolicy } from '../../../domain/model.js';
import { pageOf, type Page } from '../../../domain/paging.js';
import { DELETED_TOPIC, type AckState, type PsSnapshot, type PsSubscription, type PsSubscriptionVersion, type PsTopic } from '../../../domain/pubsub/pubsub-model.js';
import type { PubSubStore } from '../../../services/pubsub/pubsub-ports.js';
import { decodeIam, likeMember, type IamRow } from './codec.js';
import { migrate } from './migrations.js';
import { isUniqueViolation, sqliteErrorTranslator, SqliteTransactions } from './sqlite-transactions.js';
import {
  decodeSnapshot,
  decodeSubscription,
  decodeTopic,
  encodeSubscriptionDoc,
  normalizedAcks,
  type SnapshotRow,
  type SubscriptionRow,
  type TopicRow,
} from './pubsub-codec.js';
import { PUBSUB_MIGRATIONS } from './pubsub-migrations.js';
import * as err from '../pubsub-store-errors.js';



/**
 * The name range of one project's resources of one kind: every name under `prefix` is >= it and
 * < the prefix with its final '/' replaced by the next character, so a list is an index range scan.
 */
function range(prefix: string, after: string | undefined): { from: string; to: string } {
  const to = `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}`;
  return { from: after !== undefined && after >= prefix ? after : prefix, to };
}

const pageSize = (limit: number): number => Math.max(1, Math.floor(limit));

type Row<T> = T | undefined;

const SUB_COLS = 'name, topic, filter, start_seq, create_time, doc, revision';
const SNAP_COLS = 'name, topic, expire_time, labels, ack_floor, acked';

/** The statements that read many rows, exported so a test can check each walks an index. */
export const RANGE_SQL = {
  // `from` is exclusive when it is a previous page's last name and harmless when it is the prefix.
  listTopics: 'SELECT * FROM topics WHERE name > ? AND name < ? ORDER BY name LIMIT ?',
  listSubscriptions: `SELECT ${SUB_COLS} FROM subscriptions WHERE name > ? AND name < ? ORDER BY name LIMIT ?`,
  listAllSubscriptions: `SELECT ${SUB_COLS} FROM subscriptions WHERE name > ? ORDER BY name LIMIT ?`,
  listTopicSubscriptions: 'SELECT name FROM subscriptions WHERE topic = ? AND name > ? ORDER BY name LIMIT ?',
  listSnapshots: `SELECT ${SNAP_COLS} FROM snapshots WHERE name > ? AND name < ? AND expire_time > ? ORDER BY name LIMIT ?`,
  listTopicSnapshots: 'SELECT name FROM snapshots WHERE topic = ? AND name > ? AND expire_time > ? ORDER BY name LIMIT ?',
  ackedSeqs: 'SELECT seq FROM acks WHERE subscription_id = ? ORDER BY seq',
} as const;

function prepare(db: Database.Database) {
  return {
    insertTopic: db.prepare<[string, string, number | null, number]>(
      'INSERT INTO topics (name, labels, retention_ms, create_time, revision) VALUES (?, ?, ?, ?, 1)',
    ),
    getTopic: db.prepare<[string], TopicRow>('SELECT * FROM topics WHERE name = ?'),
    listTopics: db.prepare<[string, string, number], TopicRow>(RANGE_SQL.listTopics),
    updateTopic: db.prepare<[string, number | null, string, number], TopicRow>(
      'UPDATE topics SET labels = ?, retention_ms = ?, revision = revision + 1 WHERE name = ? AND revision = ? RETURNING *',
    ),
    deleteTopic: db.prepare<[string]>('DELETE FROM topics WHERE name = ?'),
    orphanSubscriptions: db.prepare<[string, string]>('UPDATE subscriptions SET topic = ?, revision = revision + 1 WHERE topic = ?'),

    insertSubscription: db.prepare<[string, string, string, number, number, string, number]>(
      'INSERT INTO subscriptions (name, topic, filter, start_seq, create_time, doc, revision, ack_floor) VALUES (?, ?, ?, ?, ?, ?, 1, ?)',
    ),
    insertReplacement: db.prepare<[string, string, string, number, number, string, number, number], SubscriptionRow>(
      `INSERT INTO subscriptions (name, topic, filter, start_seq, create_time, doc, revision, ack_floor) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${SUB_COLS}`,
    ),
    getSubscription: db.prepare<[string], SubscriptionRow>(`SELECT ${SUB_COLS} FROM subscriptions WHERE name = ?`),
    subscriptionExists: db.prepare<[string], { id: number }>('SELECT id FROM subscriptions WHERE name = ?'),
    subscriptionRevision: db.prepare<[string], { revision: number; create_time: number }>('SELECT revision, create_time FROM subscriptions WHERE name = ?'),
    listSubscriptions: db.prepare<[string, string, number], SubscriptionRow>(RANGE_SQL.listSubscriptions),
    listAllSubscriptions: db.prepare<[string, number], SubscriptionRow>(RANGE_SQL.listAllSubscriptions),
    listTopicSubscriptions: db.prepare<[string, string, number], string>(RANGE_SQL.listTopicSubscriptions).pluck(),
    updateSubscription: db.prepare<[string, string, number], SubscriptionRow>(
      `UPDATE subscriptions SET doc = ?, revision = revision + 1 WHERE name = ? AND revision = ? RETURNING ${SUB_COLS}`,
    ),
    deleteSubscription: db.prepare<[string]>('DELETE FROM subscriptions WHERE name = ?'),

    ackHead: db.prepare<[string], { id: number; ack_floor: number }>('SELECT id, ack_floor FROM subscriptions WHERE name = ?'),
    ackedSeqs: db.prepare<[number], number>(RANGE_SQL.ackedSeqs).pluck(),
    raiseFloor: db.prepare<[number, number]>('UPDATE subscriptions SET ack_floor = ? WHERE id = ?'),
    dropAckedUpTo: db.prepare<[number, number]>('DELETE FROM acks WHERE subscription_id = ? AND seq <= ?'),
    dropAllAcked: db.prepare<[number]>('DELETE FROM acks WHERE subscription_id = ?'),
    insertAck: db.prepare<[number, number]>('INSERT OR IGNORE INTO acks (subscription_id, seq) VALUES (?, ?)'),

    insertSnapshot: db.prepare<[string, string, number, string, number, string]>(
      `INSERT INTO snapshots (${SNAP_COLS}) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    getSnapshot: db.prepare<[string], SnapshotRow>(`SELECT ${SNAP_COLS} FROM snapshots WHERE name = ?`),
    listSnapshots: db.prepare<[string, string, number, number], SnapshotRow>(RANGE_SQL.listSnapshots),
    listTopicSnapshots: db.prepare<[string, string, number, number], string>(RANGE_SQL.listTopicSnapshots).pluck(),
    updateSnapshot: db.prepare<[string, number, string], SnapshotRow>(
      `UPDATE snapshots SET labels = ?, expire_time = ? WHERE name = ? RETURNING ${SNAP_COLS}`,
    ),
    deleteSnapshot: db.prepare<[string]>('DELETE FROM snapshots WHERE name = ?'),

    getIam: db.prepare<[string], IamRow>('SELECT version, bindings, etag FROM iam_policies WHERE resource = ?'),
    upsertIam: db.prepare<[string, number, string, Uint8Array]>(
      'INSERT INTO iam_policies (resource, version, bindings, etag) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (resource) DO UPDATE SET version = excluded.version, bindings = excluded.bindings, etag = excluded.etag',
    ),
    deleteIam: db.prepare<[string]>('DELETE FROM iam_policies WHERE resource = ?'),
    iamWithMember: db.prepare<[string], IamRow & { resource: string }>("SELECT resource, version, bindings, etag FROM iam_policies WHERE bindings LIKE ? ESCAPE '\\'"),
  };
}

type Statements = ReturnType<typeof prepare>;

/**
 * The PubSubStore port on its own SQLite file (`<dataDir>/pubsub.db`), apart from the registry
 * store so subscribers' ack traffic never queues behind device writes. better-sqlite3 is
 * synchronous, so each call is one transaction (IMMEDIATE for writes): conditional writes can't
 * interleave, and a failed call changes nothing.
 */
export class SqlitePubSubStore implements PubSubStore {
  private readonly q: Statements;

  private readonly tx: SqliteTransactions;

  private constructor(private readonly db: Database.Database) {
    this.tx = new SqliteTransactions(db, err.psStoreClosed, sqliteErrorTranslator('Pub/Sub store', false));
    this.q = prepare(db);
  }

  static open(path: string): SqlitePubSubStore {
    const db = new Database(path);
    try {
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode survives a process crash (kill -9) and never corrupts; a power cut can
      // lose the last commits, which for acks means redelivery: at-least-once still holds.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, PUBSUB_MIGRATIONS);
      return new SqlitePubSubStore(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  async createTopic(topic: Omit<PsTopic, 'revision'>): Promise<PsTopic> {
    this.tx.write(() => {
      try {
        this.q.insertTopic.run(topic.name, JSON.stringify(topic.labels), topic.messageRetentionMs ?? null, topic.createTime);
      } catch (e) {
        throw isUniqueViolation(e) ? err.psExists('topic', topic.name) : e;
      }
    });
    return { ...topic, labels: { ...topic.labels }, messageRetentionMs: topic.messageRetentionMs ?? undefined, revision: 1 };
  }

  async getTopic(name: string): Promise<PsTopic | undefined> {
    return this.tx.read(() => {
      const row = this.q.getTopic.get(name);
      return row && decodeTopic(row);
    });
  }

  async listTopics(project: string, after: string | undefined, limit: number): Promise<Page<PsTopic>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      const { from, to } = range(err.projectPrefix(project, 'topics'), after);
      return pageOf(this.q.listTopics.all(from, to, n + 1).map(decodeTopic), n, (t) => t.name);
    });
  }

  async updateTopic(topic: PsTopic): Promise<PsTopic> {
    return this.tx.write(() => {
      const row = this.q.updateTopic.get(JSON.stringify(topic.labels), topic.messageRetentionMs ?? null, topic.name, topic.revision);
      if (row) return decodeTopic(row);
      throw this.q.getTopic.get(topic.name) ? err.psRevisionConflict('topic', topic.name) : err.psNotFound('topic', topic.name);
    });
  }

  async deleteTopic(name: string): Promise<void> {
    this.tx.write(() => {
      if (this.q.deleteTopic.run(name).changes === 0) throw err.psNotFound('topic', name);
      this.q.deleteIam.run(name);
      this.q.orphanSubscriptions.run(DELETED_TOPIC, name);
    });
  }

  async createSubscription(s: Omit<PsSubscription, 'revision'>): Promise<PsSubscription> {
    this.tx.write(() => {
      if (this.q.subscriptionExists.get(s.name)) throw err.psExists('subscription', s.name);
      if (!this.q.getTopic.get(s.topic)) throw err.psNotFound('topic', s.topic);
      this.q.insertSubscription.run(s.name, s.topic, s.filter, s.startSeq, s.createTime, encodeSubscriptionDoc(s), s.startSeq);
    });
    return this.tx.read(() => decodeSubscription(this.q.getSubscription.get(s.name)!));
  }

  async getSubscription(name: string): Promise<PsSubscription | undefined> {
    return this.tx.read(() => {
      const row = this.q.getSubscription.get(name);
      return row && decodeSubscription(row);
    });
  }

  async listSubscriptions(project: string, after: string | undefined, limit: number): Promise<Page<PsSubscription>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      const { from, to } = range(err.projectPrefix(project, 'subscriptions'), after);
      return pageOf(this.q.listSubscriptions.all(from, to, n + 1).map(decodeSubscription), n, (s) => s.name);
    });
  }

  async listAllSubscriptions(after: string | undefined, limit: number): Promise<Page<PsSubscription>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      return pageOf(this.q.listAllSubscriptions.all(after ?? '', n + 1).map(decodeSubscription), n, (s) => s.name);
    });
  }

  async listTopicSubscriptions(topic: string, after: string | undefined, limit: number): Promise<Page<string>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      return pageOf(this.q.listTopicSubscriptions.all(topic, after ?? '', n + 1), n, (name) => name);
    });
  }

  async updateSubscription(s: PsSubscription): Promise<PsSubscription> {
    return this.tx.write(() => {
      const row = this.q.updateSubscription.get(encodeSubscriptionDoc(s), s.name, s.revision);
      if (row) return decodeSubscription(row);
      throw this.q.subscriptionExists.get(s.name) ? err.psRevisionConflict('subscription', s.name) : err.psNotFound('subscription', s.name);
    });
  }

  async deleteSubscription(name: string, revision?: number): Promise<void> {
    this.tx.write(() => {
      if (revision !== undefined) {
        const row = this.q.subscriptionRevision.get(name);
        if (row && row.revision !== revision) throw err.psRevisionConflict('subscription', name);
      }
      // Its acks go with it (ON DELETE CASCADE).
      if (this.q.deleteSubscription.run(name).changes === 0) throw err.psNotFound('subscription', name);
      this.q.deleteIam.run(name);
    });
  }

  async replaceSubscription(current: PsSubscriptionVersion, r: Omit<PsSubscription, 'name' | 'revision'>): Promise<PsSubscription> {
    return this.tx.write(() => {
      const name = current.name;
      const stored = this.q.subscriptionRevision.get(name);
      if (!stored) throw err.psNotFound('subscription', name);
      if (stored.revision !== current.revision || stored.create_time !== current.createTime) throw err.psRevisionConflict('subscription', name);
      if (!this.q.getTopic.get(r.topic)) throw err.psNotFound('topic', r.topic);
      // As deleteSubscription: its acks go with it (ON DELETE CASCADE), and its policy.
      this.q.deleteSubscription.run(name);
      this.q.deleteIam.run(name);
      const s = { ...r, name };
      return decodeSubscription(
        this.q.insertReplacement.get(name, s.topic, s.filter, s.startSeq, s.createTime, encodeSubscriptionDoc(s), current.revision + 1, s.startSeq)!,
      );
    });
  }

  async loadAckState(subscription: string): Promise<AckState> {
    return this.tx.read(() => {
      const head = this.q.ackHead.get(subscription);
      if (!head) throw err.psNotFound('subscription', subscription);
      return { floor: head.ack_floor, acked: this.q.ackedSeqs.all(head.id) };
    });
  }

  async recordAcks(subscription: string, acked: readonly number[], floor: number): Promise<void> {
    // Subscribers' hot path: one IMMEDIATE transaction per batch, prepared statements only, and
    // the set trimmed as the floor rises so it holds only the acks out of order.
    this.tx.write(() => {
      const head = this.q.ackHead.get(subscription);
      if (!head) return;
      let current = head.ack_floor;
      if (floor > current) {
        this.q.raiseFloor.run(floor, head.id);
        this.q.dropAckedUpTo.run(head.id, floor);
        current = floor;
      }
      for (const seq of acked) if (seq > current) this.q.insertAck.run(head.id, seq);
    });
  }

  async replaceAckState(subscription: string, state: AckState): Promise<void> {
    this.tx.write(() => {
      const head = this.q.ackHead.get(subscription);
      if (!head) throw err.psNotFound('subscription', subscription);
      this.q.raiseFloor.run(state.floor, head.id);
      this.q.dropAllAcked.run(head.id);
      for (const seq of normalizedAcks(state.acked, state.floor)) this.q.insertAck.run(head.id, seq);
    });
  }

  async createSnapshot(snapshot: PsSnapshot, now?: number): Promise<PsSnapshot> {
    const acked = normalizedAcks(snapshot.ackState.acked, snapshot.ackState.floor);
    this.tx.write(() => {
      const held = this.q.getSnapshot.get(snapshot.name);
      if (held) {
        if (now === undefined || held.expire_time > now) throw err.psExists('snapshot', snapshot.name);
        // The expired holder goes, and its policy with it: the new snapshot starts afresh (C-PS-SNAPSHOT-EXPIRY).
        this.q.deleteSnapshot.run(snapshot.name);
        this.q.deleteIam.run(snapshot.name);
      }
      this.q.insertSnapshot.run(
        snapshot.name,
        snapshot.topic,
        snapshot.expireTime,
        JSON.stringify(snapshot.labels),
        snapshot.ackState.floor,
        JSON.stringify(acked),
      );
    });
    return { ...snapshot, labels: { ...snapshot.labels }, ackState: { floor: snapshot.ackState.floor, acked } };
  }

  async getSnapshot(name: string, now: number): Promise<PsSnapshot | undefined> {
    return this.tx.read(() => {
      const row = this.q.getSnapshot.get(name);
      return row && row.expire_time > now ? decodeSnapshot(row) : undefined;
    });
  }

  async listSnapshots(project: string, after: string | undefined, limit: number, now: number): Promise<Page<PsSnapshot>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      const { from, to } = range(err.projectPrefix(project, 'snapshots'), after);
      return pageOf(this.q.listSnapshots.all(from, to, now, n + 1).map(decodeSnapshot), n, (s) => s.name);
    });
  }

  async listTopicSnapshots(topic: string, after: string | undefined, limit: number, now: number): Promise<Page<string>> {
    return this.tx.read(() => {
      const n = pageSize(limit);
      return pageOf(this.q.listTopicSnapshots.all(topic, after ?? '', now, n + 1), n, (name) => name);
    });
  }

  async updateSnapshot(snapshot: PsSnapshot): Promise<PsSnapshot> {
    return this.tx.write(() => {
      const row = this.q.updateSnapshot.get(JSON.stringify(snapshot.labels), snapshot.expireTime, snapshot.name);
      if (!row) throw err.psNotFound('snapshot', snapshot.name);
      return decodeSnapshot(row);
    });
  }

  async deleteSnapshot(name: string): Promise<void> {
    this.tx.write(() => {
      if (this.q.deleteSnapshot.run(name).changes === 0) throw err.psNotFound('snapshot', name);
      this.q.deleteIam.run(name);
    });
  }

  async getIamPolicy(resource: string): Promise<IamPolicy> {
    return this.tx.read(() => this.currentPolicy(resource));
  }

  async setIamPolicy(resource: string, policy: Omit<IamPolicy, 'etag'>, expectedEtag: Uint8Array | undefined): Promise<IamPolicy> {
    return this.tx.write(() => {
      const next = nextPolicy(this.currentPolicy(resource), policy, expectedEtag);
      this.q.upsertIam.run(resource, next.version, JSON.stringify(next.bindings), next.etag);
      return next;
    });
  }

  async removeIamMember(member: string): Promise<void> {
    return this.tx.write(() => {
      for (const row of this.q.iamWithMember.all(likeMember(member))) {
        const policy = decodeIam(row);
        const bindings = withoutMember(policy.bindings, member);
        if (!bindings) continue;
        const next = nextPolicy(policy, { version: policy.version, bindings }, undefined);
        this.q.upsertIam.run(row.resource, next.version, JSON.stringify(next.bindings), next.etag);
      }
    });
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private currentPolicy(resource: string): IamPolicy {
    if (!this.exists(resource)) throw err.psResourceNotFound(resource);
    const row = this.q.getIam.get(resource);
    return row ? decodeIam(row) : emptyPolicy();
  }

  private exists(resource: string): boolean {
    const kind = err.parsePsName(resource)?.kind;
    const row: Row<unknown> =
      kind === 'topic'
        ? this.q.getTopic.get(resource)
        : kind === 'subscription'
          ? this.q.subscriptionExists.get(resource)
          : kind === 'snapshot'
            ? this.q.getSnapshot.get(resource)
            : undefined;
    return row !== undefined;
  }

}
