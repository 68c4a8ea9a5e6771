-- Provisioning keys made by /download-config and configured downloads (the
-- image endpoints): a device registers with its fleet using one. Only the
-- SHA-256 of the key is stored. Numbered 100 to stay clear of the catalog's
-- own migrations. Keep in step with migrations/postgres/0100_provisioning_keys.sql.

CREATE TABLE provisioning_key (
    id INTEGER PRIMARY KEY,
    created_at INTEGER NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    is_for__application INTEGER NOT NULL REFERENCES application (id) ON DELETE CASCADE,
    is_created_by__user INTEGER REFERENCES "user" (id) ON DELETE SET NULL,
    name TEXT,
    description TEXT,
    expiry_date INTEGER
);
CREATE INDEX provisioning_key_application ON provisioning_key (is_for__application);
