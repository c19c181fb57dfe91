-- Stored private keys that could not be opened when a message needed them
-- (a damaged row, another master key): shown as an issue on the
-- certificate until the key opens again. A table of its own, without a
-- generation trigger: recording a problem changes nothing the engine reads.
CREATE TABLE key_problems (
    fingerprint TEXT PRIMARY KEY REFERENCES private_keys (fingerprint) ON DELETE CASCADE,
    problem     TEXT NOT NULL,
    at          BIGINT NOT NULL
);
