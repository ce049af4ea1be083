-- Webhook endpoints, and the deliveries the worker derives from the event log (an outbox):
-- each endpoint remembers the last position it fanned out, each delivery what it sends and
-- how its attempts went. See docs/decisions/webhook-delivery.md.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    mode            TEXT NOT NULL CHECK (mode IN ('live', 'test')),
    url             TEXT NOT NULL,
    -- The subscription: event types and `kind.*` wildcards, comma-separated.
    events          TEXT NOT NULL,
    description     TEXT,
    active          INTEGER NOT NULL,
    -- Kept, not hashed: the server signs with it.
    secret          TEXT NOT NULL,
    -- The secret before the last rotation, still signing beside it until previous_until.
    previous_secret TEXT,
    previous_until  TEXT,
    -- Events up to this position of the tenant's log have their deliveries.
    fanned_out_through INTEGER NOT NULL,
    disabled_reason TEXT,
    -- The first failed attempt since the last success: 5 days of them disable the endpoint.
    failing_since   TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id, mode);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    position        INTEGER NOT NULL,
    -- The record the event is about: one endpoint gets a record's events in position order.
    record_id       TEXT,
    -- The body as sent, the same bytes on every attempt.
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- An instance is sending it until then; after, anyone may (a crash mid-send).
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, status, position);

CREATE TABLE webhook_attempts (
    delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at              TEXT NOT NULL,
    http_status     INTEGER,
    error           TEXT,
    latency_ms      INTEGER NOT NULL,
    -- The first KiB of the answer.
    response_head   TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, at);
