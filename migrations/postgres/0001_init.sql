-- The same tables as the SQLite schema, in native types. Ids are UUIDv7 made by the server:
-- time-ordered, so primary-key inserts append to the index.

CREATE TABLE tenants (
    id         uuid PRIMARY KEY,
    slug       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    name         text,
    mode         text NOT NULL CHECK (mode IN ('live', 'test')),
    lookup       text NOT NULL UNIQUE,
    hash         text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE cells (
    id                     uuid PRIMARY KEY,
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    mode                   text NOT NULL CHECK (mode IN ('live', 'test')),
    external_source        text NOT NULL,
    external_id            text NOT NULL,
    name                   text NOT NULL,
    color                  text,
    sequence               integer,
    active                 boolean NOT NULL DEFAULT true,
    capacity_hours_per_day double precision,
    wip_limit              integer,
    notes                  text,
    metadata               jsonb,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
CREATE UNIQUE INDEX cells_identity ON cells (tenant_id, mode, external_source, external_id);
CREATE INDEX cells_by_name ON cells (tenant_id, mode, name);

CREATE TABLE resources (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    mode            text NOT NULL CHECK (mode IN ('live', 'test')),
    external_source text NOT NULL,
    external_id     text NOT NULL,
    name            text NOT NULL,
    type            text,
    status          text NOT NULL DEFAULT 'available',
    description     text,
    identifier      text,
    location        text,
    notes           text,
    metadata        jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX resources_identity ON resources (tenant_id, mode, external_source, external_id);

CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    mode            text NOT NULL CHECK (mode IN ('live', 'test')),
    external_source text NOT NULL,
    external_id     text NOT NULL,
    job_number      text NOT NULL,
    customer        text,
    due_date        date,
    priority        integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'not_started',
    notes           text,
    metadata        jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX jobs_identity ON jobs (tenant_id, mode, external_source, external_id);

CREATE TABLE parts (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    mode            text NOT NULL CHECK (mode IN ('live', 'test')),
    external_source text NOT NULL,
    external_id     text NOT NULL,
    job_id          uuid NOT NULL REFERENCES jobs (id),
    part_number     text NOT NULL,
    material        text,
    quantity        integer NOT NULL DEFAULT 1,
    status          text NOT NULL DEFAULT 'not_started',
    notes           text,
    metadata        jsonb,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX parts_identity ON parts (tenant_id, mode, external_source, external_id);
CREATE INDEX parts_by_job ON parts (job_id);

CREATE TABLE operations (
    id                     uuid PRIMARY KEY,
    tenant_id              uuid NOT NULL REFERENCES tenants (id),
    mode                   text NOT NULL CHECK (mode IN ('live', 'test')),
    external_source        text NOT NULL,
    external_id            text NOT NULL,
    part_id                uuid NOT NULL REFERENCES parts (id),
    cell_id                uuid NOT NULL REFERENCES cells (id),
    operation_name         text NOT NULL,
    sequence               integer,
    estimated_time_minutes integer,
    status                 text NOT NULL DEFAULT 'not_started',
    notes                  text,
    metadata               jsonb,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
CREATE UNIQUE INDEX operations_identity ON operations (tenant_id, mode, external_source, external_id);
CREATE INDEX operations_by_part ON operations (part_id);
CREATE INDEX operations_by_cell ON operations (cell_id);
