-- A counter bumped by every change to the catalog tables, so that servers
-- (possibly several, possibly while `balena-os admin` runs in another
-- process) know when their cached answers are out of date.

CREATE TABLE catalog_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO catalog_generation (id, value) VALUES (1, 0);

CREATE TRIGGER cpu_architecture_insert_generation AFTER INSERT ON cpu_architecture
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER cpu_architecture_update_generation AFTER UPDATE ON cpu_architecture
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER cpu_architecture_delete_generation AFTER DELETE ON cpu_architecture
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER device_type_insert_generation AFTER INSERT ON device_type
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER device_type_update_generation AFTER UPDATE ON device_type
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER device_type_delete_generation AFTER DELETE ON device_type
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER device_type_alias_insert_generation AFTER INSERT ON device_type_alias
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER device_type_alias_update_generation AFTER UPDATE ON device_type_alias
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER device_type_alias_delete_generation AFTER DELETE ON device_type_alias
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER organization_insert_generation AFTER INSERT ON organization
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER organization_update_generation AFTER UPDATE ON organization
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER organization_delete_generation AFTER DELETE ON organization
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER application_insert_generation AFTER INSERT ON application
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER application_update_generation AFTER UPDATE ON application
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER application_delete_generation AFTER DELETE ON application
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER application_tag_insert_generation AFTER INSERT ON application_tag
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER application_tag_update_generation AFTER UPDATE ON application_tag
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER application_tag_delete_generation AFTER DELETE ON application_tag
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER release_insert_generation AFTER INSERT ON release
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER release_update_generation AFTER UPDATE ON release
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER release_delete_generation AFTER DELETE ON release
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER release_tag_insert_generation AFTER INSERT ON release_tag
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER release_tag_update_generation AFTER UPDATE ON release_tag
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER release_tag_delete_generation AFTER DELETE ON release_tag
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER organization_membership_insert_generation AFTER INSERT ON organization_membership
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER organization_membership_update_generation AFTER UPDATE ON organization_membership
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
CREATE TRIGGER organization_membership_delete_generation AFTER DELETE ON organization_membership
BEGIN
    UPDATE catalog_generation SET value = value + 1 WHERE id = 1;
END;
