/**
 * The registry store's schema on PostgreSQL (component `registry` of bridgehead_schema), run by
 * migratePostgres. The shape follows the SQLite store's (src/adapters/store/sqlite/migrations.ts)
 * so that both decode rows with one codec. Never edit a step that has shipped: append one.
 *
 * Text keys are COLLATE "C": IDs sort and page by byte order, as SQLite's BINARY collation and the
 * memory store do, whatever the database's default locale is.
 */
export const REGISTRY_MIGRATIONS: readonly string[] = [
  // 1: the whole schema of SQLite steps 1-3.
  `
  CREATE TABLE registries (
    project  TEXT COLLATE "C" NOT NULL,
    location TEXT COLLATE "C" NOT NULL,
    id       TEXT COLLATE "C" NOT NULL,
    doc      TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (project, location, id)
  );

  -- Cloud IoT numIds were 16 digits; the first device gets 2000000000000001. A sequence never hands
  -- a value out twice, even across a rollback or after the device holding it is deleted.
  CREATE SEQUENCE device_num_ids START WITH 2000000000000001;

  CREATE TABLE devices (
    num_id                     BIGINT PRIMARY KEY,
    project                    TEXT COLLATE "C" NOT NULL,
    location                   TEXT COLLATE "C" NOT NULL,
    registry                   TEXT COLLATE "C" NOT NULL,
    id                         TEXT COLLATE "C" NOT NULL,
    gateway_type               TEXT NOT NULL,
    doc                        TEXT NOT NULL,
    revision                   INTEGER NOT NULL DEFAULT 1,
    config_version             INTEGER NOT NULL,
    last_accessed_gateway_id   TEXT,
    last_accessed_gateway_time BIGINT,
    last_heartbeat_time        BIGINT,
    last_event_time            BIGINT,
    last_state_time            BIGINT,
    last_config_ack_time       BIGINT,
    last_config_send_time      BIGINT,
    last_error_time            BIGINT,
    last_error_status          TEXT,
    state_update_time          BIGINT,
    state_data                 BYTEA,
    FOREIGN KEY (project, location, registry) REFERENCES registries (project, location, id)
  );
  CREATE UNIQUE INDEX devices_by_id ON devices (project, location, registry, id);
  ALTER SEQUENCE device_num_ids OWNED BY devices.num_id;

  CREATE TABLE config_versions (
    num_id            BIGINT NOT NULL REFERENCES devices (num_id) ON DELETE CASCADE,
    version           INTEGER NOT NULL,
    cloud_update_time BIGINT NOT NULL,
    device_ack_time   BIGINT,
    data              BYTEA NOT NULL,
    PRIMARY KEY (num_id, version)
  );

  CREATE TABLE states (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    num_id      BIGINT NOT NULL REFERENCES devices (num_id) ON DELETE CASCADE,
    update_time BIGINT NOT NULL,
    data        BYTEA NOT NULL
  );
  CREATE INDEX states_by_device ON states (num_id, update_time, seq);

  CREATE TABLE bindings (
    gateway_num_id BIGINT NOT NULL REFERENCES devices (num_id) ON DELETE CASCADE,
    device_num_id  BIGINT NOT NULL REFERENCES devices (num_id) ON DELETE CASCADE,
    PRIMARY KEY (gateway_num_id, device_num_id)
  );
  CREATE INDEX bindings_by_device ON bindings (device_num_id, gateway_num_id);

  CREATE TABLE iam_policies (
    project  TEXT COLLATE "C" NOT NULL,
    location TEXT COLLATE "C" NOT NULL,
    registry TEXT COLLATE "C" NOT NULL,
    version  INTEGER NOT NULL,
    bindings TEXT NOT NULL,
    etag     BYTEA NOT NULL,
    PRIMARY KEY (project, location, registry),
    FOREIGN KEY (project, location, registry) REFERENCES registries (project, location, id) ON DELETE CASCADE
  );

  CREATE TABLE service_accounts (
    email        TEXT COLLATE "C" PRIMARY KEY,
    project      TEXT COLLATE "C" NOT NULL,
    account_id   TEXT NOT NULL,
    unique_id    TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL,
    create_time  BIGINT NOT NULL
  );
  CREATE INDEX service_accounts_by_project ON service_accounts (project, email);

  CREATE TABLE service_account_keys (
    key_id      TEXT PRIMARY KEY,
    email       TEXT COLLATE "C" NOT NULL REFERENCES service_accounts (email) ON DELETE CASCADE,
    public_key  TEXT NOT NULL,
    token_uri   TEXT NOT NULL,
    create_time BIGINT NOT NULL,
    disabled    BOOLEAN NOT NULL DEFAULT false
  );
  CREATE INDEX service_account_keys_by_account ON service_account_keys (email, create_time, key_id);

  CREATE TABLE project_iam_policies (
    project  TEXT COLLATE "C" PRIMARY KEY,
    version  INTEGER NOT NULL,
    bindings TEXT NOT NULL,
    etag     BYTEA NOT NULL
  );
  `,
];
