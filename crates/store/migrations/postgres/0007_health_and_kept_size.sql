-- /healthz writes here: a store that cannot be written (disk full, a
-- read-only file system, a lost database) is unhealthy, not only one that
-- cannot be read.
CREATE TABLE health (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL
);

-- Kept incoming messages have a size budget besides their age
-- (`keep_incoming_mib`): the oldest go first.
ALTER TABLE incoming_messages ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE incoming_messages SET size = length(raw);
CREATE INDEX incoming_messages_created_id ON incoming_messages (created_at, id);
