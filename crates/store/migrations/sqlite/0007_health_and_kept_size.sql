-- /healthz writes here: a store that cannot be written (disk full, a
-- read-only file system, a lost database) is unhealthy, not only one that
-- cannot be read.
CREATE TABLE health (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL
);

-- Kept incoming messages have a size budget besides their age
-- (`keep_incoming_mib`): the oldest go first, in the order received
-- (microseconds: created_at is seconds, and ids are random).
ALTER TABLE incoming_messages ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incoming_messages ADD COLUMN received_us BIGINT NOT NULL DEFAULT 0;
UPDATE incoming_messages SET size = length(raw), received_us = created_at * 1000000;
-- With size in the index, the budget's sum and the pruning read the index
-- alone, not the messages.
CREATE INDEX incoming_messages_received ON incoming_messages (received_us, id, size);
