-- Certificate lists at 100,000 certificates (issue 14): what lists filter,
-- sort and show, one narrow row per certificate (no DER: a scan or a count
-- never reads the certificates, and a page is shown without parsing any),
-- with indexes for each order. The store writes a row in the transaction that imports its
-- certificate, and keeps `issuer_known` when an issuer arrives or leaves.
-- SQL cannot parse DER: rows of certificates stored before this migration
-- (or computed under other rules, see `version`) are filled in by the store
-- when it opens. Substring search uses pg_trgm's GIN indexes, which the
-- store creates when it opens if the extension can be had (without them,
-- LIKE scans this narrow table).
CREATE TABLE certificate_list (
    fingerprint   TEXT PRIMARY KEY REFERENCES certificates (fingerprint) ON DELETE CASCADE,
    version       BIGINT NOT NULL,    -- of the rules that computed the row (store: LIST_VERSION)
    subject       TEXT COLLATE "C" NOT NULL, -- as shown; the default order, bytewise as in SQLite
    subject_lower TEXT NOT NULL,      -- lowercase, searched
    emails        TEXT NOT NULL,      -- lowercase addresses, one per line; searched
    issuer        TEXT NOT NULL,
    serial        TEXT NOT NULL,
    kind          TEXT NOT NULL,      -- ca | end_entity
    usage         TEXT NOT NULL,      -- both | signature | encryption | none
    key_algorithm TEXT NOT NULL,
    self_signed   SMALLINT NOT NULL,
    issuer_known  SMALLINT NOT NULL,  -- self-signed, or a stored certificate issued it
    static_issues TEXT NOT NULL,      -- the issues that depend on neither time nor store, one per line: code or code:reason
    not_before    BIGINT NOT NULL,
    not_after     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL     -- imported at
);
CREATE INDEX certificate_list_subject ON certificate_list (subject, fingerprint);
CREATE INDEX certificate_list_not_after ON certificate_list (not_after, fingerprint);
CREATE INDEX certificate_list_created ON certificate_list (created_at, fingerprint);
-- Finds what a certificate issued when it arrives or leaves.
CREATE INDEX certificates_issuer_name ON certificates (issuer_name_sha256);

-- Which rules the rows were computed under, for the whole table: the store
-- fills in rows at start only while this differs from its own.
CREATE TABLE certificate_list_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO certificate_list_version (id, version) VALUES (1, 0);

-- The engine reads `issuer_known` (migration 0005).
CREATE TRIGGER certificate_list_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON certificate_list FOR EACH STATEMENT EXECUTE FUNCTION bump_store_generation();
