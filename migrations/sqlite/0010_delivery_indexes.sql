-- Indexes for the webhook worker's claim, so its cost does not grow with the deliveries waiting
-- (docs/decisions/0026-delivery-claim-indexes.md; bench group `webhooks`).

-- The due pending deliveries in the order they are claimed: the claim reads the first few.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_attempt_at, position)
    WHERE status = 'pending';
-- "An earlier delivery of the same record to the same endpoint is pending": one probe per
-- candidate instead of a walk over every pending delivery of the endpoint.
CREATE INDEX webhook_deliveries_pending_by_record ON webhook_deliveries (endpoint_id, record_id, position)
    WHERE status = 'pending';
-- The deliveries being sent right now (their lease not yet run out), counted per endpoint.
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (locked_until)
    WHERE locked_until IS NOT NULL;

-- When the delivery was last attempted: the console shows each endpoint's latest attempt
-- without reading all of the endpoint's attempts.
ALTER TABLE webhook_deliveries ADD COLUMN last_attempt_at TEXT;
UPDATE webhook_deliveries SET last_attempt_at =
    (SELECT max(a.at) FROM webhook_attempts AS a WHERE a.delivery_id = webhook_deliveries.id);
CREATE INDEX webhook_deliveries_last_attempt ON webhook_deliveries (endpoint_id, last_attempt_at)
    WHERE last_attempt_at IS NOT NULL;
