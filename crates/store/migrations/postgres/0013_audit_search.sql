-- The audit page's filters (issue 16): by who and by what, newest first,
-- without a scan of the whole history for a rare action or actor.
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_token ON audit_log (token_name, id);
