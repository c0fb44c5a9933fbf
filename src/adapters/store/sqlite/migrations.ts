import type Database from 'better-sqlite3';

/**
 * Schema migrations, applied in order; PRAGMA user_version holds how many have run. Never edit a
 * migration that has shipped: append a new one. Migrations run with foreign_keys ON (it cannot be
 * switched inside a transaction), so a step that rebuilds a referenced table must not DROP it: with
 * enforcement on, a DROP deletes its rows first and the ON DELETE CASCADEs would wipe the children.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: initial schema.
  `
  CREATE TABLE registries (
    project  TEXT NOT NULL,
    location TEXT NOT NULL,
    id       TEXT NOT NULL,
    doc      TEXT NOT NULL,
    PRIMARY KEY (project, location, id)
  ) WITHOUT ROWID;

  -- AUTOINCREMENT (not a plain rowid) so a numId is never handed out twice, even after the
  -- device holding the highest one is deleted; sqlite_sequence keeps the high-water mark.
  CREATE TABLE devices (
    num_id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    project                    TEXT NOT NULL,
    location                   TEXT NOT NULL,
    registry                   TEXT NOT NULL,
    id                         TEXT NOT NULL,
    gateway_type               TEXT NOT NULL,
    doc                        TEXT NOT NULL,
    config_version             INTEGER NOT NULL,
    last_accessed_gateway_id   TEXT,
    last_accessed_gateway_time INTEGER,
    last_heartbeat_time        INTEGER,
    last_event_time            INTEGER,
    last_state_time            INTEGER,
    last_config_ack_time       INTEGER,
    last_config_send_time      INTEGER,
    last_error_time            INTEGER,
    last_error_status          TEXT,
    state_update_time          INTEGER,
    state_data                 BLOB,
    FOREIGN KEY (project, location, registry) REFERENCES registries (project, location, id)
  );
  CREATE UNIQUE INDEX devices_by_id ON devices (project, location, registry, id);
  -- Cloud IoT numIds were 16 digits; the first device gets 2000000000000001.
  INSERT INTO sqlite_sequence (name, seq) VALUES ('devices', 2000000000000000);

  CREATE TABLE config_versions (
    num_id            INTEGER NOT NULL REFERENCES devices (num_id) ON DELETE CASCADE,
    version           INTEGER NOT NULL,
    cloud_update_time INTEGER NOT NULL,
    device_ack_time   INTEGER,
    data              BLOB NOT NULL,
    PRIMARY KEY (num_id, version)
  );

  CREATE TABLE states (
    seq         INTEGER PRIMARY KEY,
    num_id      INTEGER NOT NULL REFERENCES devices (num_id) ON DELETE CASCADE,
    update_time INTEGER NOT NULL,
    data        BLOB NOT NULL
  );
  CREATE INDEX states_by_device ON states (num_id, update_time, seq);

  CREATE TABLE bindings (
    gateway_num_id INTEGER NOT NULL REFERENCES devices (num_id) ON DELETE CASCADE,
    device_num_id  INTEGER NOT NULL REFERENCES devices (num_id) ON DELETE CASCADE,
    PRIMARY KEY (gateway_num_id, device_num_id)
  ) WITHOUT ROWID;
  CREATE INDEX bindings_by_device ON bindings (device_num_id, gateway_num_id);

  CREATE TABLE iam_policies (
    project  TEXT NOT NULL,
    location TEXT NOT NULL,
    registry TEXT NOT NULL,
    version  INTEGER NOT NULL,
    bindings TEXT NOT NULL,
    etag     BLOB NOT NULL,
    PRIMARY KEY (project, location, registry),
    FOREIGN KEY (project, location, registry) REFERENCES registries (project, location, id) ON DELETE CASCADE
  ) WITHOUT ROWID;
  `,
  // 2: revisions for conditional updates (optimistic concurrency between API requests and nodes).
  `
  ALTER TABLE registries ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE devices ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
  `,
  // 3: service accounts, the public parts of their keys, and project-level IAM policies.
  `
  CREATE TABLE service_accounts (
    email        TEXT PRIMARY KEY,
    project      TEXT NOT NULL,
    account_id   TEXT NOT NULL,
    unique_id    TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL,
    create_time  INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX service_accounts_by_project ON service_accounts (project, email);

  CREATE TABLE service_account_keys (
    key_id      TEXT PRIMARY KEY,
    email       TEXT NOT NULL REFERENCES service_accounts (email) ON DELETE CASCADE,
    public_key  TEXT NOT NULL,
    token_uri   TEXT NOT NULL,
    create_time INTEGER NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE INDEX service_account_keys_by_account ON service_account_keys (email, create_time, key_id);

  CREATE TABLE project_iam_policies (
    project  TEXT PRIMARY KEY,
    version  INTEGER NOT NULL,
    bindings TEXT NOT NULL,
    etag     BLOB NOT NULL
  ) WITHOUT ROWID;
  `,
];

/**
 * Brings the schema up to date in one immediate transaction, so concurrent openers serialize.
 * `migrations` is the list of the file being opened (the registry store's by default).
 */
export function migrate(db: Database.Database, migrations: readonly string[] = MIGRATIONS): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > migrations.length) {
      throw new Error(
        `Database schema version ${current} is newer than this Bridgehead supports (${migrations.length}).`,
      );
    }
    for (let v = current; v < migrations.length; v++) db.exec(migrations[v] as string);
    if (current !== migrations.length) db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}
