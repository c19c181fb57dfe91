-- API tokens move the store generation on too: the service checks each
-- request's token against what it remembers for the current generation,
-- so a token created or revoked on any instance counts from the next
-- request everywhere, without a token query per request.
CREATE TRIGGER api_tokens_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON api_tokens FOR EACH STATEMENT EXECUTE FUNCTION bump_store_generation();
