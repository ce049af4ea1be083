-- What each API key may do: a comma-separated list of sync, floor, read and webhooks.
-- Keys made before scopes keep every one.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'sync,floor,read,webhooks';
