-- Certificates, their email addresses, sealed private keys, settings.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE certificates (
    fingerprint         TEXT PRIMARY KEY,   -- SHA-256 of the DER, lowercase hex
    der                 BLOB NOT NULL,
    subject             TEXT NOT NULL,
    spki_sha256         TEXT NOT NULL,      -- matches private keys to certificates
    subject_name_sha256 TEXT NOT NULL,      -- finds what a CA issued
    issuer_name_sha256  TEXT NOT NULL,      -- finds a certificate's issuer
    is_ca               BOOLEAN NOT NULL,
    not_before          BIGINT NOT NULL,
    not_after           BIGINT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE INDEX certificates_spki ON certificates (spki_sha256);
CREATE INDEX certificates_subject_name ON certificates (subject_name_sha256);

CREATE TABLE certificate_emails (
    email       TEXT NOT NULL,              -- lowercase
    fingerprint TEXT NOT NULL REFERENCES certificates (fingerprint) ON DELETE CASCADE,
    PRIMARY KEY (email, fingerprint)
);
CREATE INDEX certificate_emails_fingerprint ON certificate_emails (fingerprint);

CREATE TABLE private_keys (
    fingerprint       TEXT PRIMARY KEY REFERENCES certificates (fingerprint) ON DELETE CASCADE,
    sealed_key        BLOB NOT NULL,        -- AES-256-GCM under the master key
    sealed_passphrase BLOB,                 -- same; NULL when the key has none
    created_at        BIGINT NOT NULL
);
