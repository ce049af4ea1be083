-- A fingerprint of what the last sync that wrote a row sent: which fields, their values and the
-- references it resolved (a 64-bit XXH3 hash, computed by the server). A re-send carrying the same
-- fingerprint would write nothing, so it is known unchanged without sending and comparing every
-- field. A sync that writes a row moves synced_at or the fingerprint; a write that moves neither
-- (a delete, or an edit made behind the server's back) drops the fingerprint, so the next re-send
-- compares fields again and puts back what the ERP sent.
ALTER TABLE cells ADD COLUMN sync_fingerprint bigint;
ALTER TABLE resources ADD COLUMN sync_fingerprint bigint;
ALTER TABLE jobs ADD COLUMN sync_fingerprint bigint;
ALTER TABLE parts ADD COLUMN sync_fingerprint bigint;
ALTER TABLE operations ADD COLUMN sync_fingerprint bigint;

CREATE FUNCTION drop_sync_fingerprint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.sync_fingerprint := NULL;
    RETURN NEW;
END
$$;

-- The condition sits in WHEN, so a sync's own writes never call the function.
CREATE TRIGGER cells_written_outside_sync BEFORE UPDATE ON cells FOR EACH ROW
WHEN (NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS NOT DISTINCT FROM OLD.sync_fingerprint
      AND NEW.synced_at IS NOT DISTINCT FROM OLD.synced_at)
EXECUTE FUNCTION drop_sync_fingerprint();
CREATE TRIGGER resources_written_outside_sync BEFORE UPDATE ON resources FOR EACH ROW
WHEN (NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS NOT DISTINCT FROM OLD.sync_fingerprint
      AND NEW.synced_at IS NOT DISTINCT FROM OLD.synced_at)
EXECUTE FUNCTION drop_sync_fingerprint();
CREATE TRIGGER jobs_written_outside_sync BEFORE UPDATE ON jobs FOR EACH ROW
WHEN (NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS NOT DISTINCT FROM OLD.sync_fingerprint
      AND NEW.synced_at IS NOT DISTINCT FROM OLD.synced_at)
EXECUTE FUNCTION drop_sync_fingerprint();
CREATE TRIGGER parts_written_outside_sync BEFORE UPDATE ON parts FOR EACH ROW
WHEN (NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS NOT DISTINCT FROM OLD.sync_fingerprint
      AND NEW.synced_at IS NOT DISTINCT FROM OLD.synced_at)
EXECUTE FUNCTION drop_sync_fingerprint();
CREATE TRIGGER operations_written_outside_sync BEFORE UPDATE ON operations FOR EACH ROW
WHEN (NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS NOT DISTINCT FROM OLD.sync_fingerprint
      AND NEW.synced_at IS NOT DISTINCT FROM OLD.synced_at)
EXECUTE FUNCTION drop_sync_fingerprint();
