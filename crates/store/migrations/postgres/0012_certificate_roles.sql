-- The web table's default order (issue 16): the organisation's own
-- certificates (with a private key) first, then CAs, then contacts, each by
-- subject; and an order by address. `role` is kept by triggers, so no
-- code path that stores or deletes a key can forget it: 0 own, 1 CA,
-- 2 contact.
ALTER TABLE certificate_list ADD COLUMN role SMALLINT NOT NULL DEFAULT 2;
UPDATE certificate_list SET role = CASE
    WHEN EXISTS (SELECT 1 FROM private_keys k WHERE k.fingerprint = certificate_list.fingerprint) THEN 0
    WHEN kind = 'ca' THEN 1
    ELSE 2 END;
CREATE INDEX certificate_list_role ON certificate_list (role, subject, fingerprint);
-- Bytewise, as in SQLite (and as `subject`).
ALTER TABLE certificate_list ALTER COLUMN emails TYPE TEXT COLLATE "C";
CREATE INDEX certificate_list_emails ON certificate_list (emails, fingerprint);

CREATE FUNCTION certificate_list_role() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.role := CASE
        WHEN EXISTS (SELECT 1 FROM private_keys k WHERE k.fingerprint = NEW.fingerprint) THEN 0
        WHEN NEW.kind = 'ca' THEN 1
        ELSE 2 END;
    RETURN NEW;
END;
$$;
CREATE TRIGGER certificate_list_role_insert BEFORE INSERT ON certificate_list
    FOR EACH ROW EXECUTE FUNCTION certificate_list_role();

CREATE FUNCTION private_keys_role() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE certificate_list SET role = 0 WHERE fingerprint = NEW.fingerprint;
    ELSE
        UPDATE certificate_list SET role = CASE WHEN kind = 'ca' THEN 1 ELSE 2 END
        WHERE fingerprint = OLD.fingerprint;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER private_keys_role AFTER INSERT OR DELETE ON private_keys
    FOR EACH ROW EXECUTE FUNCTION private_keys_role();
