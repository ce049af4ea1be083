-- Ids are UUIDv7 text: time-ordered, so primary-key inserts append to the index.
-- Timestamps are fixed-width UTC text (YYYY-MM-DDTHH:MM:SS.ffffffZ): text order is time order.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    slug       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT,
    mode         TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    lookup       TEXT NOT NULL UNIQUE,
    hash         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

CREATE TABLE cells (
    id                     TEXT PRIMARY KEY,
    tenant_id              TEXT NOT NULL REFERENCES tenants (id),
    mode                   TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    external_source        TEXT NOT NULL,
    external_id            TEXT NOT NULL,
    name                   TEXT NOT NULL,
    color                  TEXT,
    sequence               INTEGER,
    active                 INTEGER NOT NULL DEFAULT 1,
    capacity_hours_per_day REAL,
    wip_limit              INTEGER,
    notes                  TEXT,
    metadata               TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE UNIQUE INDEX cells_identity ON cells (tenant_id, mode, external_source, external_id);
CREATE INDEX cells_by_name ON cells (tenant_id, mode, name);

CREATE TABLE resources (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    mode            TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    external_source TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    type            TEXT,
    status          TEXT NOT NULL DEFAULT 'available',
    description     TEXT,
    identifier      TEXT,
    location        TEXT,
    notes           TEXT,
    metadata        TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX resources_identity ON resources (tenant_id, mode, external_source, external_id);

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    mode            TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    external_source TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    job_number      TEXT NOT NULL,
    customer        TEXT,
    due_date        TEXT,
    priority        INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'not_started',
    notes           TEXT,
    metadata        TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX jobs_identity ON jobs (tenant_id, mode, external_source, external_id);

CREATE TABLE parts (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    mode            TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    external_source TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    job_id          TEXT NOT NULL REFERENCES jobs (id),
    part_number     TEXT NOT NULL,
    material        TEXT,
    quantity        INTEGER NOT NULL DEFAULT 1,
    status          TEXT NOT NULL DEFAULT 'not_started',
    notes           TEXT,
    metadata        TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX parts_identity ON parts (tenant_id, mode, external_source, external_id);
CREATE INDEX parts_by_job ON parts (job_id);

CREATE TABLE operations (
    id                     TEXT PRIMARY KEY,
    tenant_id              TEXT NOT NULL REFERENCES tenants (id),
    mode                   TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    external_source        TEXT NOT NULL,
    external_id            TEXT NOT NULL,
    part_id                TEXT NOT NULL REFERENCES parts (id),
    cell_id                TEXT NOT NULL REFERENCES cells (id),
    operation_name         TEXT NOT NULL,
    sequence               INTEGER,
    estimated_time_minutes INTEGER,
    status                 TEXT NOT NULL DEFAULT 'not_started',
    notes                  TEXT,
    metadata               TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE UNIQUE INDEX operations_identity ON operations (tenant_id, mode, external_source, external_id);
CREATE INDEX operations_by_part ON operations (part_id);
CREATE INDEX operations_by_cell ON operations (cell_id);
