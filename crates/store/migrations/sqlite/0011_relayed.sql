-- What the SMTP gateway has handed on: one row per forwarded copy, keyed by
-- the SHA-256 of what Postfix delivered (direction, envelope, XFORWARD
-- queue ID, message) and the copy's number. A retry of a delivery that was
-- already forwarded (smimed stopped between the forward and its answer to
-- Postfix) is then answered 250 without a second copy. Rows older than the
-- longest Postfix queue lifetime are dropped by the retention task.
CREATE TABLE relayed (
    key TEXT PRIMARY KEY,
    at BIGINT NOT NULL
);
CREATE INDEX relayed_at ON relayed (at);
