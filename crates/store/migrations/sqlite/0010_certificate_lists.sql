-- Certificate lists at 100,000 certificates (issue 14): what lists filter,
-- sort and show, one narrow row per certificate (no DER: a scan or a count
-- never reads the certificates, and a page is shown without parsing any),
-- with indexes for each order and a trigram index for substring search.
-- The store writes a row in the transaction that imports its certificate,
-- and keeps `issuer_known` when an issuer arrives or leaves. SQL cannot
-- parse DER: rows of certificates stored before this migration (or
-- computed under other rules, see `version`) are filled in by the store
-- when it opens.
CREATE TABLE certificate_list (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- the search index's rowid, never reused
    fingerprint   TEXT NOT NULL UNIQUE REFERENCES certificates (fingerprint) ON DELETE CASCADE,
    version       BIGINT NOT NULL,    -- of the rules that computed the row (store: LIST_VERSION)
    subject       TEXT NOT NULL,      -- as shown; the default order
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

-- Substring search: trigrams of the lowercase subject and addresses, kept
-- by triggers in the same transaction as the rows. The text is lowercase
-- already, so the index compares exactly (case_sensitive 1).
CREATE VIRTUAL TABLE certificate_search USING fts5(
    subject_lower, emails,
    content = 'certificate_list', content_rowid = 'id',
    tokenize = 'trigram case_sensitive 1'
);
CREATE TRIGGER certificate_list_search_insert AFTER INSERT ON certificate_list BEGIN
    INSERT INTO certificate_search (rowid, subject_lower, emails)
        VALUES (new.id, new.subject_lower, new.emails);
END;
CREATE TRIGGER certificate_list_search_delete AFTER DELETE ON certificate_list BEGIN
    INSERT INTO certificate_search (certificate_search, rowid, subject_lower, emails)
        VALUES ('delete', old.id, old.subject_lower, old.emails);
END;
CREATE TRIGGER certificate_list_search_update AFTER UPDATE OF subject_lower, emails ON certificate_list BEGIN
    INSERT INTO certificate_search (certificate_search, rowid, subject_lower, emails)
        VALUES ('delete', old.id, old.subject_lower, old.emails);
    INSERT INTO certificate_search (rowid, subject_lower, emails)
        VALUES (new.id, new.subject_lower, new.emails);
END;

-- The engine reads `issuer_known` (migration 0005).
CREATE TRIGGER certificate_list_insert_generation AFTER INSERT ON certificate_list
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER certificate_list_update_generation AFTER UPDATE ON certificate_list
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER certificate_list_delete_generation AFTER DELETE ON certificate_list
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
