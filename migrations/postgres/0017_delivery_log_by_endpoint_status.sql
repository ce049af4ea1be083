-- The delivery log lists a tenant's deliveries newest first, per endpoint and status
-- (store/delivery_log.rs::list): this index reads each endpoint's newest delivered or failed
-- ones without sorting all of them (an unfiltered page took 1.65 s at 142 000 deliveries).
-- Partial, without the pending ones: indexing those too made the webhook worker's own
-- statements choose it, and deliveries per second fell to a third (bench `webhooks`).
CREATE INDEX webhook_deliveries_by_endpoint_status ON webhook_deliveries (endpoint_id, status, id)
    WHERE status <> 'pending';
