-- Helpdesk groups: a sending address and the composer's defaults.
-- Defaults: NULL = never set (which means on), 0 = off, 1 = on. Integers,
-- not BOOLEAN, because sqlx's Any driver cannot read a NULL SQLite boolean.
CREATE TABLE groups (
    name            TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    default_sign    SMALLINT,
    default_encrypt SMALLINT,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX certificates_is_ca ON certificates (is_ca);
