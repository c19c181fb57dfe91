-- A counter that every change to what the mail engine reads (certificates,
-- private keys, settings, groups) moves on, kept by triggers so that no
-- code path can forget it. The engine remembers its lookups under the
-- counter's value and asks for the value once per message, so a change on
-- any instance is seen by the next message everywhere.
CREATE TABLE store_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO store_generation (id, value) VALUES (1, 0);

CREATE TRIGGER certificates_insert_generation AFTER INSERT ON certificates
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER certificates_update_generation AFTER UPDATE ON certificates
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER certificates_delete_generation AFTER DELETE ON certificates
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER certificate_emails_insert_generation AFTER INSERT ON certificate_emails
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER certificate_emails_update_generation AFTER UPDATE ON certificate_emails
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER certificate_emails_delete_generation AFTER DELETE ON certificate_emails
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER private_keys_insert_generation AFTER INSERT ON private_keys
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER private_keys_update_generation AFTER UPDATE ON private_keys
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER private_keys_delete_generation AFTER DELETE ON private_keys
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER settings_insert_generation AFTER INSERT ON settings
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER settings_update_generation AFTER UPDATE ON settings
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER settings_delete_generation AFTER DELETE ON settings
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER groups_insert_generation AFTER INSERT ON groups
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER groups_update_generation AFTER UPDATE ON groups
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER groups_delete_generation AFTER DELETE ON groups
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
