-- One entry per sync or bulk-sync call: what was asked, what happened, how long it took.
CREATE TABLE sync_imports (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    mode          TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    key_id        TEXT NOT NULL,
    endpoint      TEXT NOT NULL,
    entity        TEXT NOT NULL,
    sources       TEXT NOT NULL,
    dry_run       INTEGER NOT NULL,
    status        INTEGER NOT NULL,
    total         INTEGER NOT NULL,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL,
    unchanged     INTEGER NOT NULL,
    errors        INTEGER NOT NULL,
    error_details TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    request_id    TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX sync_imports_newest ON sync_imports (tenant_id, mode, id);

-- Responses kept for 24 h per (API key, Idempotency-Key), so a retried request is answered
-- from here instead of running twice.
CREATE TABLE idempotency_keys (
    key_id          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    response_status INTEGER,
    response_body   BLOB,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
);
