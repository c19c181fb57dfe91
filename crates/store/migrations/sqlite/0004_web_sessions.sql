-- Sessions of the admin web page. The cookie holds a random secret; only its
-- SHA-256 is kept. A session lives as long as the token it was opened with.
CREATE TABLE web_sessions (
    id_sha256  TEXT PRIMARY KEY,
    token_name TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
