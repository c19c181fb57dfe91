-- Certificate revocation lists (issue 17). One CRL per stored CA that
-- signed it: a newer one replaces the older (the engine compares CRL
-- numbers, else thisUpdate). It goes with its CA. The engine reads these
-- for every signature check, so changes move the generation on.
CREATE TABLE crls (
    ca_fingerprint TEXT PRIMARY KEY REFERENCES certificates (fingerprint) ON DELETE CASCADE,
    issuer         TEXT NOT NULL,
    der            BLOB NOT NULL,
    this_update    BIGINT NOT NULL,
    next_update    BIGINT,
    number         TEXT,            -- CRL number, hex; NULL without one
    entries        BIGINT NOT NULL, -- revoked entries in the CRL
    source         TEXT NOT NULL,   -- 'import', or the URL it was fetched from
    stored_at      BIGINT NOT NULL  -- Unix microseconds
);

-- The stored certificates a stored CRL revokes: what the certificate list
-- shows as the issue `revoked` and what outgoing mail never encrypts to.
-- Written with the CRL (and when a certificate arrives while CRLs are
-- held), in the same transaction.
CREATE TABLE revoked_certificates (
    fingerprint    TEXT PRIMARY KEY REFERENCES certificates (fingerprint) ON DELETE CASCADE,
    ca_fingerprint TEXT NOT NULL REFERENCES crls (ca_fingerprint) ON DELETE CASCADE,
    revoked_at     BIGINT NOT NULL,
    reason         TEXT NOT NULL
);
CREATE INDEX revoked_certificates_ca ON revoked_certificates (ca_fingerprint);

CREATE TRIGGER crls_insert_generation AFTER INSERT ON crls
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER crls_update_generation AFTER UPDATE ON crls
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER crls_delete_generation AFTER DELETE ON crls
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER revoked_certificates_insert_generation AFTER INSERT ON revoked_certificates
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER revoked_certificates_delete_generation AFTER DELETE ON revoked_certificates
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
