-- Certificates learned from signed mail (issue 17). A learned contact is
-- trusted only through the stored CA that vouched for it, never as itself:
-- deleting that CA ends its trust, as it does for what the CA issued.
ALTER TABLE certificates ADD COLUMN learned BOOLEAN NOT NULL DEFAULT FALSE;

-- Signer certificates of valid signatures by their sender without a path to
-- a stored CA: untrusted and unused until an admin accepts (they become
-- contacts) or rejects them (kept as rejected, so the same certificate is
-- not offered again). Bounded per sender and in total, oldest dropped first.
CREATE TABLE pending_certificates (
    fingerprint TEXT PRIMARY KEY,
    der         BLOB NOT NULL,
    subject     TEXT NOT NULL,
    email       TEXT NOT NULL,     -- the From address it signed for, lowercase
    rejected    BOOLEAN NOT NULL DEFAULT FALSE,
    first_seen  BIGINT NOT NULL,   -- Unix microseconds
    last_seen   BIGINT NOT NULL,   -- Unix microseconds
    seen        BIGINT NOT NULL    -- signed messages received
);
CREATE INDEX pending_certificates_email ON pending_certificates (email, last_seen);
CREATE INDEX pending_certificates_last_seen ON pending_certificates (last_seen);

-- The kept incoming messages each pending certificate signed, retried when
-- it is accepted; a message pruned from the kept ones leaves with its row.
CREATE TABLE pending_messages (
    fingerprint TEXT NOT NULL REFERENCES pending_certificates (fingerprint) ON DELETE CASCADE,
    incoming_id TEXT NOT NULL REFERENCES incoming_messages (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,   -- Unix microseconds
    PRIMARY KEY (fingerprint, incoming_id)
);
CREATE INDEX pending_messages_incoming ON pending_messages (incoming_id);
