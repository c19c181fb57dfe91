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
CREATE INDEX certificate_list_emails ON certificate_list (emails, fingerprint);

CREATE TRIGGER certificate_list_role_insert AFTER INSERT ON certificate_list BEGIN
    UPDATE certificate_list SET role = CASE
        WHEN EXISTS (SELECT 1 FROM private_keys k WHERE k.fingerprint = new.fingerprint) THEN 0
        WHEN new.kind = 'ca' THEN 1
        ELSE 2 END
    WHERE id = new.id;
END;
CREATE TRIGGER private_keys_role_insert AFTER INSERT ON private_keys BEGIN
    UPDATE certificate_list SET role = 0 WHERE fingerprint = new.fingerprint;
END;
CREATE TRIGGER private_keys_role_delete AFTER DELETE ON private_keys BEGIN
    UPDATE certificate_list SET role = CASE WHEN kind = 'ca' THEN 1 ELSE 2 END
    WHERE fingerprint = old.fingerprint;
END;
