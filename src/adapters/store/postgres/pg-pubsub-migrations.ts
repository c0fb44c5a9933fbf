/**
 * Schema of the Pub/Sub store on PostgreSQL, component `pubsub` of `migratePostgres`. It shares
 * the database with the registry store (component `registry`), so every table is prefixed `ps_`.
 * Never edit a migration that has shipped: append a new one.
 *
 * As in the SQLite file: fields the store queries or conditions on are columns, the rest of a
 * subscription's mutable configuration is one JSON document replaced whole by an update. Names
 * are COLLATE "C" whatever the database's locale, so lists page in byte order (the order the
 * embedded store and the clients' sorts use) and a project's name range is an index range scan.
 * Times are epoch ms and seqs are BIGINT.
 */
export const PG_PUBSUB_MIGRATIONS: readonly string[] = [
  // 1: initial schema.
  `
  CREATE TABLE ps_topics (
    name         TEXT COLLATE "C" PRIMARY KEY,
    labels       TEXT NOT NULL,
    retention_ms BIGINT,
    create_time  BIGINT NOT NULL,
    revision     INTEGER NOT NULL
  );

  -- id: a short key for the (many) ack rows; a recreated name gets a new id and no old acks.
  CREATE TABLE ps_subscriptions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    topic       TEXT COLLATE "C" NOT NULL,
    filter      TEXT NOT NULL,
    start_seq   BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    doc         TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    ack_floor   BIGINT NOT NULL
  );
  CREATE INDEX ps_subscriptions_by_topic ON ps_subscriptions (topic, name);

  -- The acked seqs above the subscription's floor; rows at or below it are deleted as it rises.
  CREATE TABLE ps_acks (
    subscription_id BIGINT NOT NULL REFERENCES ps_subscriptions (id) ON DELETE CASCADE,
    seq             BIGINT NOT NULL,
    PRIMARY KEY (subscription_id, seq)
  );

  CREATE TABLE ps_snapshots (
    name        TEXT COLLATE "C" PRIMARY KEY,
    topic       TEXT COLLATE "C" NOT NULL,
    expire_time BIGINT NOT NULL,
    labels      TEXT NOT NULL,
    ack_floor   BIGINT NOT NULL,
    acked       BIGINT[] NOT NULL
  );
  CREATE INDEX ps_snapshots_by_topic ON ps_snapshots (topic, name);

  -- Policies of topics, subscriptions and snapshots, by full resource name; deleted with the resource.
  CREATE TABLE ps_iam_policies (
    resource TEXT COLLATE "C" PRIMARY KEY,
    version  INTEGER NOT NULL,
    bindings TEXT NOT NULL,
    etag     BYTEA NOT NULL
  );
  `,
];
