-- API tokens move the store generation on too: the service checks each
-- request's token against what it remembers for the current generation,
-- so a token created or revoked on any instance counts from the next
-- request everywhere, without a token query per request.
CREATE TRIGGER api_tokens_insert_generation AFTER INSERT ON api_tokens
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER api_tokens_update_generation AFTER UPDATE ON api_tokens
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER api_tokens_delete_generation AFTER DELETE ON api_tokens
BEGIN UPDATE store_generation SET value = value + 1 WHERE id = 1; END;
