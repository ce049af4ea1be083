-- Which fields the last sync that wrote a row sent (bit k for column k of the entity, references
-- first). A batch is written by one `INSERT … ON CONFLICT DO UPDATE`, whose update sees the sent
-- row only as `excluded`: the mask travels in it so that a field the record left out keeps its
-- stored value.
ALTER TABLE cells ADD COLUMN sync_mask bigint;
ALTER TABLE resources ADD COLUMN sync_mask bigint;
ALTER TABLE jobs ADD COLUMN sync_mask bigint;
ALTER TABLE parts ADD COLUMN sync_mask bigint;
ALTER TABLE operations ADD COLUMN sync_mask bigint;

-- The deleted rows by key. That statement cannot tell which rows it brought back (its RETURNING
-- sees only the new row), so it looks the batch's keys up among the deleted rows, which is
-- nearly free when they are few.
CREATE INDEX cells_deleted ON cells (tenant_id, mode, external_source, external_id)
    WHERE deleted_at IS NOT NULL;
CREATE INDEX resources_deleted ON resources (tenant_id, mode, external_source, external_id)
    WHERE deleted_at IS NOT NULL;
CREATE INDEX jobs_deleted ON jobs (tenant_id, mode, external_source, external_id)
    WHERE deleted_at IS NOT NULL;
CREATE INDEX parts_deleted ON parts (tenant_id, mode, external_source, external_id)
    WHERE deleted_at IS NOT NULL;
CREATE INDEX operations_deleted ON operations (tenant_id, mode, external_source, external_id)
    WHERE deleted_at IS NOT NULL;
