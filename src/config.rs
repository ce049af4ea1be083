//! Server settings, from flags or the environment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::domain::network::AllowedNetworks;
use crate::domain::webhook::{RetrySchedule, DEFAULT_RETRY_SCHEDULE};
use crate::store::{self, Store, StoreError, StoreOptions, DEFAULT_BUSY_TIMEOUT_SECS};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./eryxon.db";

/// Requests each API key may make per minute, unless configured otherwise.
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 600;

/// Seconds a request may take before it is answered 408, unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;

/// The largest request body: room for 1000 fully nested jobs with notes and metadata.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, Clone, Args)]
pub struct ServerConfig {
    /// Address to listen on.
    #[arg(long, env = "ERYXON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Requests each API key may make per minute.
    #[arg(long, env = "ERYXON_RATE_LIMIT_PER_MINUTE", default_value_t = DEFAULT_RATE_LIMIT_PER_MINUTE,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_minute: u32,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "ERYXON_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES,
          value_parser = body_limit)]
    pub max_body_bytes: usize,

    /// Seconds a request may take before it is answered 408 (slow or stalled clients).
    #[arg(long, env = "ERYXON_REQUEST_TIMEOUT_SECS", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_secs: u64,

    /// Browser origins allowed to call the API (CORS), comma-separated, e.g.
    /// `https://admin.example.com`. None by default: browsers may not call it cross-origin.
    #[arg(long, env = "ERYXON_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Days the server keeps events, finished webhook deliveries and sync history; older ones
    /// are pruned in the background (a delivery still to be sent stays), and a feed cursor
    /// that points before them is answered 410.
    #[arg(long, env = "ERYXON_EVENT_RETENTION_DAYS", default_value_t = DEFAULT_EVENT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub event_retention_days: u32,

    /// Waits between a webhook delivery's attempts, comma-separated (`5s,5m,30m`); after the
    /// last the delivery has failed. Each wait varies by ±10 %.
    #[arg(long, env = "ERYXON_WEBHOOK_RETRY_SCHEDULE", default_value = DEFAULT_RETRY_SCHEDULE,
          value_parser = RetrySchedule::parse)]
    pub webhook_retry_schedule: RetrySchedule,

    /// Networks webhooks may reach beside public `https` addresses, comma-separated CIDRs
    /// (`10.0.0.0/8,127.0.0.1/32`): an ERP on the plant LAN. Plain `http` goes only to these.
    /// None by default: loopback, private, link-local, CGNAT and multicast are refused.
    #[arg(long, env = "ERYXON_WEBHOOK_ALLOWED_NETWORKS", default_value = "",
          value_parser = AllowedNetworks::parse)]
    pub webhook_allowed_networks: AllowedNetworks,

    /// Serve Prometheus metrics at `/metrics` (`--metrics false` turns it off).
    #[arg(long, env = "ERYXON_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub metrics: bool,
}

/// Days an event is kept unless configured otherwise.
pub const DEFAULT_EVENT_RETENTION_DAYS: u32 = 30;

#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Database URL: sqlite://PATH (created and migrated on start) or postgres://…
    #[arg(long = "database", env = "ERYXON_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub url: String,

    /// PostgreSQL: connections this process keeps at most.
    #[arg(long, env = "ERYXON_DB_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,

    /// PostgreSQL: seconds a request waits for a connection before it is answered 503.
    #[arg(long, env = "ERYXON_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 3)]
    pub db_acquire_timeout_secs: u64,

    /// PostgreSQL: statement_timeout of the server's sessions, in seconds (0 keeps the server's).
    #[arg(long, env = "ERYXON_DB_STATEMENT_TIMEOUT_SECS", default_value_t = 30)]
    pub db_statement_timeout_secs: u64,

    /// SQLite: seconds a write waits for another process to release the file's write lock
    /// before it is answered 503.
    #[arg(long, env = "ERYXON_DB_BUSY_TIMEOUT_SECS", default_value_t = DEFAULT_BUSY_TIMEOUT_SECS)]
    pub db_busy_timeout_secs: u64,
}

impl DatabaseConfig {
    pub fn pool_options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.db_max_connections,
            acquire_timeout: Duration::from_secs(self.db_acquire_timeout_secs),
            statement_timeout: (self.db_statement_timeout_secs > 0)
                .then(|| Duration::from_secs(self.db_statement_timeout_secs)),
            busy_timeout: Duration::from_secs(self.db_busy_timeout_secs),
        }
    }

    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        store::open_with(&self.url, &self.pool_options()).await
    }
}

/// The smallest body limit the server starts with: below it no write fits, and a server that
/// answers every write 413 while `/healthz` says 200 stays in a load balancer's rotation.
pub const MIN_BODY_BYTES: usize = 1024;

fn body_limit(text: &str) -> Result<usize, String> {
    let bytes: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of bytes"))?;
    if bytes < MIN_BODY_BYTES {
        return Err(format!(
            "{bytes} is too small: at least {MIN_BODY_BYTES} bytes, or no write fits"
        ));
    }
    Ok(bytes)
}
