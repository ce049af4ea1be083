//! Databases and servers.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use eryxon::config::{ServerConfig, DEFAULT_MAX_BODY_BYTES};
use eryxon::domain::api_key::{IssuedKey, KeyScopes, TenantSlug};
use eryxon::domain::network::AllowedNetworks;
use eryxon::domain::Mode;
use eryxon::store::Store;
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::knobs::{postgres_admin_url, Engine};
use crate::raw::{Arg, Raw};
use crate::{RATE_LIMIT, TENANT};

pub struct Db {
    pub url: String,
    /// PostgreSQL databases are dropped when the engine's run ends.
    pub pg_name: Option<String>,
}

pub async fn fresh_db(engine: Engine, dir: &std::path::Path, label: &str) -> Result<Db> {
    match engine {
        Engine::Sqlite => Ok(Db {
            url: format!("sqlite://{}", dir.join(format!("{label}.db")).display()),
            pg_name: None,
        }),
        Engine::Postgres => {
            let admin = postgres_admin_url().context("ERYXON_TEST_POSTGRES_URL")?;
            let name = format!("eryxon_bench_{}", uuid::Uuid::now_v7().simple());
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let (server, _) = admin.rsplit_once('/').context("a database URL")?;
            Ok(Db {
                url: format!("{server}/{name}"),
                pg_name: Some(name),
            })
        }
    }
}

pub async fn drop_db(db: &Db) -> Result<()> {
    match &db.pg_name {
        None => {
            if let Some(path) = db.url.strip_prefix("sqlite://") {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
            }
        }
        Some(name) => {
            let admin = postgres_admin_url().context("ERYXON_TEST_POSTGRES_URL")?;
            let mut conn = PgConnection::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
    }
    Ok(())
}

/// A live key for the bench tenant, and the tenant's id as the tables store it.
pub async fn key_and_tenant(
    store: &dyn Store,
    raw: &mut Raw,
    engine: Engine,
) -> Result<(String, String)> {
    let key = IssuedKey::generate(Mode::Live);
    let slug = TenantSlug::parse(TENANT).map_err(anyhow::Error::msg)?;
    store
        .create_api_key(&slug, Some("bench"), &key, KeyScopes::ALL)
        .await?;
    let sql = match engine {
        Engine::Sqlite => "SELECT id FROM tenants WHERE slug = ?1",
        Engine::Postgres => "SELECT id::text FROM tenants WHERE slug = $1",
    };
    let tenant = raw
        .text(sql, &[Arg::Text(TENANT)])
        .await?
        .context("the tenant")?;
    Ok((key.secret, tenant))
}

/// The server in this process, on port 0, as the integration tests run it.
pub struct Server {
    pub base: String,
    pub shutdown: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(store: Arc<dyn Store>) -> Result<Server> {
        Server::start_with(store, AllowedNetworks::default()).await
    }

    /// A server whose webhooks may reach `allowed` (`--webhook-allowed-networks`).
    pub async fn start_with(store: Arc<dyn Store>, allowed: AllowedNetworks) -> Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let config = ServerConfig {
            listen: address,
            rate_limit_per_minute: RATE_LIMIT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout_secs: 600,
            cors_origins: Vec::new(),
            event_retention_days: eryxon::config::DEFAULT_EVENT_RETENTION_DAYS,
            webhook_retry_schedule: Default::default(),
            webhook_allowed_networks: allowed,
            // As `eryxon serve` runs by default, so the counting is in the measured time.
            metrics: true,
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            eryxon::http::serve(listener, store, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Server {
            base: format!("http://{address}"),
            shutdown: Some(shutdown),
            task,
        })
    }

    pub async fn stop(mut self) -> Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.await??;
        Ok(())
    }
}

/// `eryxon serve` as a child process, so its memory is its own.
pub struct ChildServer {
    pub base: String,
    pub child: tokio::process::Child,
}

impl ChildServer {
    pub async fn spawn(url: &str) -> Result<ChildServer> {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eryxon"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", url])
            .args(["--rate-limit-per-minute", &RATE_LIMIT.to_string()])
            .args(["--request-timeout-secs", "600"])
            .env("ERYXON_LOG", "info")
            .env_remove("ERYXON_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting eryxon serve")?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.split("address=").nth(1) {
                    return Ok(rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned());
                }
            }
            bail!("eryxon serve exited before listening")
        })
        .await
        .context("eryxon serve listens within 60 s")??;
        // A full pipe would block the server's logging.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ChildServer {
            base: format!("http://{address}"),
            child,
        })
    }

    /// Peak resident memory (VmHWM) in kB.
    pub fn peak_rss_kb(&self) -> Result<u64> {
        let pid = self.child.id().context("the server is running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("VmHWM in /proc/PID/status")
    }

    /// CPU seconds the server's threads used so far, by thread name: where its time goes.
    pub fn cpu_by_thread(&self) -> Result<Vec<(String, f64)>> {
        // USER_HZ is 100 on every Linux this runs on.
        const TICKS_PER_S: f64 = 100.0;
        let pid = self.child.id().context("the server is running")?;
        let mut by_name: Vec<(String, f64)> = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let stat = std::fs::read_to_string(task?.path().join("stat"))?;
            let (head, rest) = stat.rsplit_once(')').context("a stat line")?;
            let name = head.split_once('(').map_or("?", |(_, n)| n).to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
            match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += ticks / TICKS_PER_S,
                None => by_name.push((name, ticks / TICKS_PER_S)),
            }
        }
        by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(by_name)
    }

    pub async fn stop(mut self) -> Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A database the ceiling writes directly: of its own, with its own background checkpoints
/// (two connections writing one SQLite file in turn would each find the other's commits and
/// reload their page caches at every repetition, which neither does on its own), holding the
/// main database's cells, since the nested ceiling finds its operations' cells by name.
pub struct CeilingDb {
    pub db: Db,
    pub raw: Raw,
    pub tenant: String,
}

impl CeilingDb {
    pub async fn new(
        engine: Engine,
        dir: &std::path::Path,
        label: &str,
        cells: &[crate::records::Row],
    ) -> Result<CeilingDb> {
        let db = fresh_db(engine, dir, label).await?;
        let store = eryxon::store::open(&db.url).await?;
        let mut raw = Raw::open(engine, &db.url).await?;
        let (key, tenant) = key_and_tenant(&*store, &mut raw, engine).await?;
        let server = Server::start(store.clone()).await?;
        let cells_body = crate::records::flat_body(eryxon::domain::Entity::Cells, cells);
        let answer = crate::http::Api::new(&server.base, &key)
            .bulk("cells", cells_body)
            .await?;
        crate::http::expect(&answer, cells.len() as u64, 0, 0)?;
        server.stop().await?;
        // The store served the setup only; closed now, its background tasks (the WAL
        // checkpoint on SQLite) and its connections are gone before the raw statements
        // write: kept open beside them, a ceiling write failed now and then with "database
        // is locked".
        drop(store);
        Ok(CeilingDb { db, raw, tenant })
    }

    pub async fn drop(self) -> Result<()> {
        drop(self.raw);
        drop_db(&self.db).await
    }
}
