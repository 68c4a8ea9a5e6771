-- A counter bumped by every change to the catalog tables, so that servers
-- (possibly several, possibly while `balena-os admin` runs in another
-- process) know when their cached answers are out of date.

CREATE TABLE catalog_generation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, value) VALUES (1, 0);

CREATE FUNCTION bump_catalog_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER cpu_architecture_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON cpu_architecture
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER device_type_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_type
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER device_type_alias_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON device_type_alias
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER organization_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organization
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER application_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON application
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER application_tag_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON application_tag
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER release_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON release
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER release_tag_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON release_tag
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
CREATE TRIGGER organization_membership_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organization_membership
    FOR EACH STATEMENT EXECUTE FUNCTION bump_catalog_generation();
