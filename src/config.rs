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
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub request_timeout_secs: u64,

    /// Browser origins allowed to call the API (CORS), comma-separated, e.g.
    /// `https://admin.example.com`. None by default: browsers may not call it cross-origin.
    #[arg(long, env = "ERYXON_CORS_ORIGINS", value_delimiter = ',', value_parser = cors_origin)]
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
    #[arg(long, env = "ERYXON_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub db_acquire_timeout_secs: u64,

    /// PostgreSQL: statement_timeout of the server's sessions, in seconds (0 keeps the server's).
    #[arg(long, env = "ERYXON_DB_STATEMENT_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub db_statement_timeout_secs: u64,

    /// SQLite: seconds a write waits for another process to release the file's write lock
    /// before it is answered 503.
    #[arg(long, env = "ERYXON_DB_BUSY_TIMEOUT_SECS", default_value_t = DEFAULT_BUSY_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
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

    /// The URL as logs and messages show it: without its password
    /// (`config::tests::a_shown_url_has_no_password`).
    pub fn shown_url(&self) -> String {
        without_password(&self.url)
    }
}

/// `url` with its password, if any, replaced by `***`; text that is not a URL as it is.
pub fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
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

/// A browser origin as CORS compares it (`https://admin.example.com`, a port if not the
/// scheme's own): refused at start when it names no origin, so a typo is not an origin that
/// never matches, and `*` is refused because the API's answers carry a key's data
/// (`config::tests::cors_origins_are_checked_at_start`). Empty (a trailing comma) is nothing.
fn cors_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(String::new());
    }
    if text == "*" {
        return Err(
            "\"*\" is not allowed: name each origin, e.g. https://admin.example.com".into(),
        );
    }
    let refused = || format!("{text:?} is not an origin such as https://admin.example.com");
    let url = url::Url::parse(text).map_err(|_| refused())?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && !text.ends_with('/')
        && url.query().is_none()
        && url.fragment().is_none();
    if !bare {
        return Err(refused());
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_has_no_password() {
        assert_eq!(
            without_password("postgres://eryx:s3cret@db.local:5432/eryxon"),
            "postgres://eryx:***@db.local:5432/eryxon"
        );
        assert_eq!(
            without_password("postgres://eryx@db.local/eryxon"),
            "postgres://eryx@db.local/eryxon"
        );
        assert_eq!(
            without_password("sqlite://./eryxon.db"),
            "sqlite://./eryxon.db"
        );
    }

    #[test]
    fn cors_origins_are_checked_at_start() {
        assert_eq!(
            cors_origin(" https://Admin.Example.com ").unwrap(),
            "https://admin.example.com"
        );
        assert_eq!(
            cors_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(cors_origin("").unwrap(), "");
        assert!(cors_origin("*").unwrap_err().contains("name each origin"));
        for bad in [
            "not a url",
            "https://a.example.com/",
            "https://a.example.com/app",
            "ftp://a.example.com",
            "https://u:p@a.example.com",
        ] {
            assert!(cors_origin(bad).is_err(), "{bad}");
        }
    }
}
