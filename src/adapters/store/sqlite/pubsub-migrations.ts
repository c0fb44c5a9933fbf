/**
 * Schema of the Pub/Sub store's own file (`<dataDir>/pubsub.db`), applied by `migrate` like the
 * registry store's. Never edit a migration that has shipped: append a new one.
 *
 * Fields the store queries or conditions on are columns; the rest of a subscription's mutable
 * configuration is one JSON document, replaced whole by an update.
 */
export const PUBSUB_MIGRATIONS: readonly string[] = [
  // 1: initial schema.
  `
  CREATE TABLE topics (
    name         TEXT PRIMARY KEY,
    labels       TEXT NOT NULL,
    retention_ms INTEGER,
    create_time  INTEGER NOT NULL,
    revision     INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- id: a short key for the (many) ack rows; a recreated name gets a new id and no old acks.
  CREATE TABLE subscriptions (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    topic       TEXT NOT NULL,
    filter      TEXT NOT NULL,
    start_seq   INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    doc         TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    ack_floor   INTEGER NOT NULL
  );
  CREATE INDEX subscriptions_by_topic ON subscriptions (topic, name);

  -- The acked seqs above the subscription's floor; rows at or below it are deleted as it rises.
  CREATE TABLE acks (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, seq)
  ) WITHOUT ROWID;

  CREATE TABLE snapshots (
    name        TEXT PRIMARY KEY,
    topic       TEXT NOT NULL,
    expire_time INTEGER NOT NULL,
    labels      TEXT NOT NULL,
    ack_floor   INTEGER NOT NULL,
    acked       TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX snapshots_by_topic ON snapshots (topic, name);

  -- Policies of topics, subscriptions and snapshots, by full resource name; deleted with the resource.
  CREATE TABLE iam_policies (
    resource TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    bindings TEXT NOT NULL,
    etag     BLOB NOT NULL
  ) WITHOUT ROWID;
  `,
];
