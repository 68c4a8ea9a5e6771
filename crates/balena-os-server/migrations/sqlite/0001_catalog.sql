-- The catalog schema for SQLite. Dates are milliseconds since the epoch
-- (INTEGER), JSON documents are text. Keep in step with
-- migrations/postgres/0001_catalog.sql and src/schema.rs.

CREATE TABLE organization (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    name TEXT NOT NULL,
    handle TEXT NOT NULL UNIQUE
);

CREATE TABLE "user" (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    username TEXT NOT NULL UNIQUE,
    email TEXT,
    is_superuser BOOLEAN NOT NULL DEFAULT 0
);

CREATE TABLE organization_membership (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    "user" INTEGER NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    is_member_of__organization INTEGER NOT NULL REFERENCES organization (id) ON DELETE CASCADE,
    UNIQUE ("user", is_member_of__organization)
);

CREATE TABLE api_key (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    is_of__user INTEGER NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    name TEXT,
    description TEXT,
    expiry_date INTEGER
);

CREATE TABLE cpu_architecture (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    slug TEXT NOT NULL UNIQUE
);

CREATE TABLE device_type (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    is_of__cpu_architecture INTEGER NOT NULL REFERENCES cpu_architecture (id),
    logo TEXT,
    contract TEXT,
    belongs_to__device_family INTEGER,
    is_private BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX device_type_arch ON device_type (is_of__cpu_architecture);

CREATE TABLE device_type_alias (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    device_type INTEGER NOT NULL REFERENCES device_type (id) ON DELETE CASCADE,
    is_referenced_by__alias TEXT NOT NULL UNIQUE
);
CREATE INDEX device_type_alias_device_type ON device_type_alias (device_type);

CREATE TABLE application (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    actor INTEGER,
    should_track_latest_release BOOLEAN NOT NULL DEFAULT 1,
    is_of__class TEXT NOT NULL DEFAULT 'fleet',
    organization INTEGER NOT NULL REFERENCES organization (id),
    app_name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    is_for__device_type INTEGER NOT NULL REFERENCES device_type (id),
    should_be_running__release INTEGER REFERENCES release (id) ON DELETE SET NULL,
    application_type INTEGER,
    is_host BOOLEAN NOT NULL DEFAULT 0,
    is_archived BOOLEAN NOT NULL DEFAULT 0,
    uuid TEXT NOT NULL UNIQUE,
    is_public BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX application_device_type ON application (is_for__device_type);
CREATE INDEX application_organization ON application (organization);

CREATE TABLE application_tag (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    application INTEGER NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (application, tag_key)
);

CREATE TABLE release (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    belongs_to__application INTEGER NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    "commit" TEXT NOT NULL,
    composition TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'cloud',
    build_log TEXT,
    is_invalidated BOOLEAN NOT NULL DEFAULT 0,
    start_timestamp INTEGER NOT NULL,
    end_timestamp INTEGER,
    update_timestamp INTEGER NOT NULL,
    release_version TEXT,
    contract TEXT,
    is_passing_tests BOOLEAN NOT NULL DEFAULT 1,
    is_finalized_at__date INTEGER,
    phase TEXT,
    semver_major INTEGER NOT NULL DEFAULT 0,
    semver_minor INTEGER NOT NULL DEFAULT 0,
    semver_patch INTEGER NOT NULL DEFAULT 0,
    semver_prerelease TEXT NOT NULL DEFAULT '',
    semver_build TEXT NOT NULL DEFAULT '',
    variant TEXT NOT NULL DEFAULT '',
    revision INTEGER,
    known_issue_list TEXT,
    note TEXT,
    invalidation_reason TEXT,
    -- computed by the model from the columns above; written by the server only
    is_final BOOLEAN NOT NULL,
    semver TEXT NOT NULL,
    raw_version TEXT NOT NULL,
    UNIQUE (belongs_to__application, "commit")
);
CREATE INDEX release_application ON release (belongs_to__application);
CREATE INDEX release_raw_version ON release (raw_version);

CREATE TABLE release_tag (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    release INTEGER NOT NULL REFERENCES release (id) ON DELETE CASCADE,
    tag_key TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (release, tag_key)
);
