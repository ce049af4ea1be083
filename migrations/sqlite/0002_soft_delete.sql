-- Deleted records are kept (a re-sync restores them with their id) and hidden from reads.
ALTER TABLE cells ADD COLUMN deleted_at TEXT;
ALTER TABLE resources ADD COLUMN deleted_at TEXT;
ALTER TABLE jobs ADD COLUMN deleted_at TEXT;
ALTER TABLE parts ADD COLUMN deleted_at TEXT;
ALTER TABLE operations ADD COLUMN deleted_at TEXT;
