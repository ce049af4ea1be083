-- Requests per API key per Unix minute, shared by every server instance on this database.
CREATE TABLE rate_limit_windows (
    key_id       uuid    NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    window_start bigint  NOT NULL,
    requests     integer NOT NULL,
    PRIMARY KEY (key_id, window_start)
);
