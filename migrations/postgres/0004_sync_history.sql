-- One entry per sync or bulk-sync call: what was asked, what happened, how long it took.
-- json, not jsonb: the entries are shown as they were written, keys in their order.
CREATE TABLE sync_imports (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    mode          text NOT NULL CHECK (mode IN ('live', 'test')),
    key_id        uuid NOT NULL,
    endpoint      text NOT NULL,
    entity        text NOT NULL,
    sources       json NOT NULL,
    dry_run       boolean NOT NULL,
    status        integer NOT NULL,
    total         integer NOT NULL,
    created       integer NOT NULL,
    updated       integer NOT NULL,
    unchanged     integer NOT NULL,
    errors        integer NOT NULL,
    error_details json NOT NULL,
    duration_ms   bigint NOT NULL,
    request_id    text,
    created_at    timestamptz NOT NULL
);
CREATE INDEX sync_imports_newest ON sync_imports (tenant_id, mode, id);

-- Responses kept for 24 h per (API key, Idempotency-Key), so a retried request is answered
-- from here instead of running twice.
CREATE TABLE idempotency_keys (
    key_id          uuid NOT NULL,
    idempotency_key text NOT NULL,
    request_hash    text NOT NULL,
    response_status integer,
    response_body   bytea,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
);
