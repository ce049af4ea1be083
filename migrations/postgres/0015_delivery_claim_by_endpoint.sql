-- A claim takes each endpoint's earliest due deliveries on their own (store/claim.rs), so a
-- backlog of one endpoint does not hold up the others; this index finds them without walking
-- the other endpoints' pending deliveries.
CREATE INDEX webhook_deliveries_pending_by_endpoint
    ON webhook_deliveries (endpoint_id, next_attempt_at, position)
    WHERE status = 'pending';
