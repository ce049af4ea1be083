-- A fingerprint of what the last sync that wrote a row sent: which fields, their values and the
-- references it resolved (a 64-bit XXH3 hash, computed by the server). A re-send carrying the same
-- fingerprint would write nothing, so it is known unchanged without reading and comparing every
-- field. A sync that writes a row moves synced_at or the fingerprint; a write that moves neither
-- (a delete, or an edit made behind the server's back) drops the fingerprint, so the next re-send
-- compares fields again and puts back what the ERP sent.
ALTER TABLE cells ADD COLUMN sync_fingerprint INTEGER;
ALTER TABLE resources ADD COLUMN sync_fingerprint INTEGER;
ALTER TABLE jobs ADD COLUMN sync_fingerprint INTEGER;
ALTER TABLE parts ADD COLUMN sync_fingerprint INTEGER;
ALTER TABLE operations ADD COLUMN sync_fingerprint INTEGER;

CREATE TRIGGER cells_written_outside_sync AFTER UPDATE ON cells
WHEN NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS OLD.sync_fingerprint
    AND NEW.synced_at IS OLD.synced_at
BEGIN
    UPDATE cells SET sync_fingerprint = NULL WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER resources_written_outside_sync AFTER UPDATE ON resources
WHEN NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS OLD.sync_fingerprint
    AND NEW.synced_at IS OLD.synced_at
BEGIN
    UPDATE resources SET sync_fingerprint = NULL WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER jobs_written_outside_sync AFTER UPDATE ON jobs
WHEN NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS OLD.sync_fingerprint
    AND NEW.synced_at IS OLD.synced_at
BEGIN
    UPDATE jobs SET sync_fingerprint = NULL WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER parts_written_outside_sync AFTER UPDATE ON parts
WHEN NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS OLD.sync_fingerprint
    AND NEW.synced_at IS OLD.synced_at
BEGIN
    UPDATE parts SET sync_fingerprint = NULL WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER operations_written_outside_sync AFTER UPDATE ON operations
WHEN NEW.sync_fingerprint IS NOT NULL AND NEW.sync_fingerprint IS OLD.sync_fingerprint
    AND NEW.synced_at IS OLD.synced_at
BEGIN
    UPDATE operations SET sync_fingerprint = NULL WHERE rowid = NEW.rowid;
END;
