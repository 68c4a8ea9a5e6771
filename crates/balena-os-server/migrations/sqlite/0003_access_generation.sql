-- Who may see what is not catalog data. Cached answers are keyed by what a
-- caller may see (anonymous, a set of organisations, everything), never by
-- the caller, so users, memberships and API keys do not make them stale:
-- they only make resolved API keys stale. This moves memberships off the
-- catalog counter onto a counter of their own, which also follows users and
-- changed or deleted API keys. New keys (and provisioning keys) move
-- neither counter: nothing cached can depend on a key that did not exist.
-- Keep in step with migrations/postgres/0003_access_generation.sql.

CREATE TABLE access_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO access_generation (id, value) VALUES (1, 0);

DROP TRIGGER organization_membership_insert_generation;
DROP TRIGGER organization_membership_update_generation;
DROP TRIGGER organization_membership_delete_generation;

CREATE TRIGGER organization_membership_insert_access AFTER INSERT ON organization_membership
BEGIN
    UPDATE access_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER organization_membership_update_access AFTER UPDATE ON organization_membership
BEGIN
    UPDATE access_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER organization_membership_delete_access AFTER DELETE ON organization_membership
BEGIN
    UPDATE access_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER user_update_access AFTER UPDATE ON "user"
BEGIN
    UPDATE access_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER user_delete_access AFTER DELETE ON "user"
BEGIN
    UPDATE access_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER api_key_update_access AFTER UPDATE ON api_key
BEGIN
    UPDATE access_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER api_key_delete_access AFTER DELETE ON api_key
BEGIN
    UPDATE access_generation SET value = value + 1 WHERE id = 1;
END;
