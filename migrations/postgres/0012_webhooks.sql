-- Webhook endpoints, and the deliveries the worker derives from the event log (an outbox):
-- each endpoint remembers the last position it fanned out, each delivery what it sends and
-- how its attempts went. See docs/decisions/webhook-delivery.md.
CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    mode            text NOT NULL CHECK (mode IN ('live', 'test')),
    url             text NOT NULL,
    -- The subscription: event types and `kind.*` wildcards, comma-separated.
    events          text NOT NULL,
    description     text,
    active          bigint NOT NULL,
    -- Kept, not hashed: the server signs with it.
    secret          text NOT NULL,
    -- The secret before the last rotation, still signing beside it until previous_until.
    previous_secret text,
    previous_until  timestamptz,
    -- Events up to this position of the tenant's log have their deliveries.
    fanned_out_through bigint NOT NULL,
    disabled_reason text,
    -- The first failed attempt since the last success: 5 days of them disable the endpoint.
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_by_tenant ON webhook_endpoints (tenant_id, mode);

CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    position        bigint NOT NULL,
    -- The record the event is about: one endpoint gets a record's events in position order.
    record_id       text,
    -- The body as sent, the same bytes on every attempt.
    body            text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        bigint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- An instance is sending it until then; after, anyone may (a crash mid-send).
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, status, position);

CREATE TABLE webhook_attempts (
    delivery_id     text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL,
    http_status     bigint,
    error           text,
    latency_ms      bigint NOT NULL,
    -- The first KiB of the answer.
    response_head   text
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, at);
