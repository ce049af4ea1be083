-- When the ERP last synced a change into the record (created, changed or restored it). Unlike
-- updated_at it does not move when the record is deleted; an unchanged re-sync writes nothing.
ALTER TABLE cells ADD COLUMN synced_at timestamptz;
ALTER TABLE resources ADD COLUMN synced_at timestamptz;
ALTER TABLE jobs ADD COLUMN synced_at timestamptz;
ALTER TABLE parts ADD COLUMN synced_at timestamptz;
ALTER TABLE operations ADD COLUMN synced_at timestamptz;
UPDATE cells SET synced_at = updated_at;
UPDATE resources SET synced_at = updated_at;
UPDATE jobs SET synced_at = updated_at;
UPDATE parts SET synced_at = updated_at;
UPDATE operations SET synced_at = updated_at;
