-- The floor's side: lifecycle progress, produced quantities, time entries, and the event log.
-- `floor_at` is when the floor first acted on a record; from then on its status, timestamps,
-- actual times and quantities are the floor's, and no sync changes them.

ALTER TABLE jobs ADD COLUMN started_at TEXT;
ALTER TABLE jobs ADD COLUMN paused_at TEXT;
ALTER TABLE jobs ADD COLUMN resumed_at TEXT;
ALTER TABLE jobs ADD COLUMN completed_at TEXT;
-- Seconds spent in progress before the current stretch, and when the current one began.
ALTER TABLE jobs ADD COLUMN active_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN active_since TEXT;
ALTER TABLE jobs ADD COLUMN transitioned_at TEXT;
ALTER TABLE jobs ADD COLUMN floor_at TEXT;

ALTER TABLE parts ADD COLUMN completed_at TEXT;
ALTER TABLE parts ADD COLUMN quantity_good INTEGER NOT NULL DEFAULT 0;
ALTER TABLE parts ADD COLUMN quantity_scrap INTEGER NOT NULL DEFAULT 0;
ALTER TABLE parts ADD COLUMN quantity_rework INTEGER NOT NULL DEFAULT 0;
ALTER TABLE parts ADD COLUMN floor_at TEXT;

ALTER TABLE operations ADD COLUMN started_at TEXT;
ALTER TABLE operations ADD COLUMN paused_at TEXT;
ALTER TABLE operations ADD COLUMN completed_at TEXT;
ALTER TABLE operations ADD COLUMN worked_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN completion_percentage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN quantity_good INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN quantity_scrap INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN quantity_rework INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN transitioned_at TEXT;
ALTER TABLE operations ADD COLUMN floor_at TEXT;

CREATE TABLE time_entries (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    mode             TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    operation_id     TEXT NOT NULL REFERENCES operations (id),
    operator         TEXT,
    note             TEXT,
    start_time       TEXT NOT NULL,
    end_time         TEXT,
    duration_seconds INTEGER
);
CREATE INDEX time_entries_by_operation ON time_entries (operation_id, start_time);

CREATE TABLE quantity_reports (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    mode            TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    operation_id    TEXT NOT NULL REFERENCES operations (id),
    good            INTEGER NOT NULL,
    scrap           INTEGER NOT NULL,
    rework          INTEGER NOT NULL,
    scrap_reason    TEXT,
    material_lot    TEXT,
    operator        TEXT,
    recorded_at     TEXT NOT NULL,
    client_event_id TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX quantity_reports_by_operation ON quantity_reports (operation_id, recorded_at);
CREATE UNIQUE INDEX quantity_reports_by_client_event
    ON quantity_reports (tenant_id, mode, client_event_id) WHERE client_event_id IS NOT NULL;

-- The last position given out in each tenant's log. Taking the next ones locks this row until
-- the transaction ends, so positions become visible in order and a reader that follows its
-- cursor skips nothing (`events::a_tailing_reader_sees_every_event_once`).
CREATE TABLE event_positions (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    mode          TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    last          INTEGER NOT NULL,
    -- Positions up to here were pruned; a cursor before it is expired.
    pruned_through INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, mode)
);

CREATE TABLE events (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    mode            TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    position        INTEGER NOT NULL,
    type            TEXT NOT NULL,
    occurred_at     TEXT NOT NULL,
    entity          TEXT,
    record_id       TEXT,
    external_source TEXT,
    external_id     TEXT,
    data            TEXT NOT NULL
);
CREATE UNIQUE INDEX events_by_position ON events (tenant_id, mode, position);
CREATE INDEX events_by_time ON events (occurred_at);
