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

CREATE FUNCTION bump_store_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE store_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER certificates_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON certificates FOR EACH STATEMENT EXECUTE FUNCTION bump_store_generation();
CREATE TRIGGER certificate_emails_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON certificate_emails FOR EACH STATEMENT EXECUTE FUNCTION bump_store_generation();
CREATE TRIGGER private_keys_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON private_keys FOR EACH STATEMENT EXECUTE FUNCTION bump_store_generation();
CREATE TRIGGER settings_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON settings FOR EACH STATEMENT EXECUTE FUNCTION bump_store_generation();
CREATE TRIGGER groups_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON groups FOR EACH STATEMENT EXECUTE FUNCTION bump_store_generation();
