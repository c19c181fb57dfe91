-- The HTTP service: API tokens (hashes only), the operation log, the admin
-- audit log, and incoming messages kept for retry.
CREATE TABLE api_tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL,              -- admin | agent
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL
);

CREATE TABLE operation_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    direction  TEXT NOT NULL,                -- outgoing | incoming
    operation  TEXT NOT NULL,                -- sign | encrypt | decrypt | verify
    status     TEXT NOT NULL,                -- success | failure
    from_addr  TEXT NOT NULL,
    to_addrs   TEXT NOT NULL,
    message_id TEXT NOT NULL,
    detail     TEXT NOT NULL,
    token_name TEXT NOT NULL
);
CREATE INDEX operation_log_at ON operation_log (at);

CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    token_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    detail     TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE incoming_messages (
    id         TEXT PRIMARY KEY,
    raw        BYTEA NOT NULL,
    report     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX incoming_messages_created ON incoming_messages (created_at);
