-- The floor's side: lifecycle progress, produced quantities, time entries, and the event log.
-- `floor_at` is when the floor first acted on a record; from then on its status, timestamps,
-- actual times and quantities are the floor's, and no sync changes them.

ALTER TABLE jobs ADD COLUMN started_at timestamptz;
ALTER TABLE jobs ADD COLUMN paused_at timestamptz;
ALTER TABLE jobs ADD COLUMN resumed_at timestamptz;
ALTER TABLE jobs ADD COLUMN completed_at timestamptz;
-- Seconds spent in progress before the current stretch, and when the current one began.
ALTER TABLE jobs ADD COLUMN active_seconds bigint NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN active_since timestamptz;
ALTER TABLE jobs ADD COLUMN transitioned_at timestamptz;
ALTER TABLE jobs ADD COLUMN floor_at timestamptz;

ALTER TABLE parts ADD COLUMN completed_at timestamptz;
ALTER TABLE parts ADD COLUMN quantity_good bigint NOT NULL DEFAULT 0;
ALTER TABLE parts ADD COLUMN quantity_scrap bigint NOT NULL DEFAULT 0;
ALTER TABLE parts ADD COLUMN quantity_rework bigint NOT NULL DEFAULT 0;
ALTER TABLE parts ADD COLUMN floor_at timestamptz;

ALTER TABLE operations ADD COLUMN started_at timestamptz;
ALTER TABLE operations ADD COLUMN paused_at timestamptz;
ALTER TABLE operations ADD COLUMN completed_at timestamptz;
ALTER TABLE operations ADD COLUMN worked_seconds bigint NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN completion_percentage bigint NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN quantity_good bigint NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN quantity_scrap bigint NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN quantity_rework bigint NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN transitioned_at timestamptz;
ALTER TABLE operations ADD COLUMN floor_at timestamptz;

CREATE TABLE time_entries (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    mode             text NOT NULL CHECK (mode IN ('live', 'test')),
    operation_id     uuid NOT NULL REFERENCES operations (id),
    operator         text,
    note             text,
    start_time       timestamptz NOT NULL,
    end_time         timestamptz,
    duration_seconds bigint
);
CREATE INDEX time_entries_by_operation ON time_entries (operation_id, start_time);

CREATE TABLE quantity_reports (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    mode            text NOT NULL CHECK (mode IN ('live', 'test')),
    operation_id    uuid NOT NULL REFERENCES operations (id),
    good            bigint NOT NULL,
    scrap           bigint NOT NULL,
    rework          bigint NOT NULL,
    scrap_reason    text,
    material_lot    text,
    operator        text,
    recorded_at     timestamptz NOT NULL,
    client_event_id text,
    created_at      timestamptz NOT NULL
);
CREATE INDEX quantity_reports_by_operation ON quantity_reports (operation_id, recorded_at);
CREATE UNIQUE INDEX quantity_reports_by_client_event
    ON quantity_reports (tenant_id, mode, client_event_id) WHERE client_event_id IS NOT NULL;

-- The last position given out in each tenant's log. Taking the next ones locks this row until
-- the transaction ends, so positions become visible in order and a reader that follows its
-- cursor skips nothing (`events::a_tailing_reader_sees_every_event_once`).
CREATE TABLE event_positions (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    mode          text NOT NULL CHECK (mode IN ('live', 'test')),
    last          bigint NOT NULL,
    -- Positions up to here were pruned; a cursor before it is expired.
    pruned_through bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, mode)
);

CREATE TABLE events (
    id              text PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    mode            text NOT NULL CHECK (mode IN ('live', 'test')),
    position        bigint NOT NULL,
    type            text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    entity          text,
    record_id       uuid,
    external_source text,
    external_id     text,
    data            text NOT NULL
);
CREATE UNIQUE INDEX events_by_position ON events (tenant_id, mode, position);
CREATE INDEX events_by_time ON events (occurred_at);
