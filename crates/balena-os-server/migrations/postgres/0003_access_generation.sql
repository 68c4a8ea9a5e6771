-- Who may see what is not catalog data. Cached answers are keyed by what a
-- caller may see (anonymous, a set of organisations, everything), never by
-- the caller, so users, memberships and API keys do not make them stale:
-- they only make resolved API keys stale. This moves memberships off the
-- catalog counter onto a counter of their own, which also follows users and
-- changed or deleted API keys. New keys (and provisioning keys) move
-- neither counter: nothing cached can depend on a key that did not exist.
-- Keep in step with migrations/sqlite/0003_access_generation.sql.

CREATE TABLE access_generation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO access_generation (id, value) VALUES (1, 0);

DROP TRIGGER organization_membership_generation ON organization_membership;

CREATE FUNCTION bump_access_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE access_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER organization_membership_access AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organization_membership
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_generation();
CREATE TRIGGER user_access AFTER UPDATE OR DELETE OR TRUNCATE ON "user"
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_generation();
CREATE TRIGGER api_key_access AFTER UPDATE OR DELETE OR TRUNCATE ON api_key
    FOR EACH STATEMENT EXECUTE FUNCTION bump_access_generation();
