-- The age of the oldest delivery waiting to be sent (`eryxon_webhook_oldest_pending_seconds`,
-- store/deliveries.rs::oldest_pending) is read at every metrics scrape: without this index
-- each scrape sorted every pending delivery (380 ms at 100 000 on SQLite); with it, one probe
-- (`webhook_retries::a_paused_endpoints_backlog_costs_a_tick_nothing`).
CREATE INDEX webhook_deliveries_pending_since ON webhook_deliveries (created_at)
    WHERE status = 'pending';
