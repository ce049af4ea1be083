//! A real server on a real store, on port 0, spoken to over HTTP.

use std::sync::Arc;

use eryxon::config::ServerConfig;
use eryxon::domain::api_key::{IssuedKey, KeyScopes, TenantSlug};
use eryxon::domain::Mode;
use eryxon::store::{self, Store};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::engines::{fresh_postgres_database, Engine};

/// Server settings a test may change.
#[derive(Debug, Clone)]
pub struct Options {
    pub rate_limit_per_minute: u32,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    pub cors_origins: Vec<String>,
    /// SQLite: how long a write waits for another process's write lock.
    pub busy_timeout: std::time::Duration,
    /// Waits between webhook attempts (`ERYXON_WEBHOOK_RETRY_SCHEDULE`).
    pub webhook_retry_schedule: eryxon::domain::webhook::RetrySchedule,
    /// Networks webhooks may reach (`ERYXON_WEBHOOK_ALLOWED_NETWORKS`): the test receivers'
    /// loopback address by default, since they listen on 127.0.0.1.
    pub webhook_allowed_networks: eryxon::domain::network::AllowedNetworks,
    /// Serve `/metrics` (on, as `eryxon serve` is by default).
    pub metrics: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rate_limit_per_minute: 100_000,
            max_body_bytes: eryxon::config::DEFAULT_MAX_BODY_BYTES,
            request_timeout_secs: 30,
            cors_origins: Vec::new(),
            busy_timeout: store::StoreOptions::default().busy_timeout,
            webhook_retry_schedule: Default::default(),
            webhook_allowed_networks: eryxon::domain::network::AllowedNetworks::parse(
                "127.0.0.1/32",
            )
            .unwrap(),
            metrics: true,
        }
    }
}

pub struct TestServer {
    pub base: String,
    pub database_url: String,
    pub store: Arc<dyn Store>,
    options: Options,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    dir: Arc<TempDir>,
}

/// One HTTP answer, with its body parsed as JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        assert_eq!(self.body["success"], true, "not a success: {:#}", self.body);
        &self.body["data"]
    }

    /// The error code, after checking the envelope's shape.
    pub fn error_code(&self) -> &str {
        assert_eq!(self.body["success"], false, "not an error: {:#}", self.body);
        assert!(
            self.body["error"]["message"].is_string(),
            "no message: {:#}",
            self.body
        );
        self.body["error"]["code"].as_str().expect("a code")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "body: {:#}", self.body);
        self
    }
}

impl TestServer {
    pub async fn start(engine: Engine) -> TestServer {
        TestServer::start_with(engine, Options::default()).await
    }

    pub async fn start_with(engine: Engine, options: Options) -> TestServer {
        let dir = Arc::new(TempDir::new().expect("a temp dir"));
        let database_url = match engine {
            Engine::Sqlite => format!("sqlite://{}", dir.path().join("eryxon.db").display()),
            Engine::Postgres => fresh_postgres_database().await,
        };
        TestServer::launch(database_url, options, dir).await
    }

    async fn launch(database_url: String, options: Options, dir: Arc<TempDir>) -> TestServer {
        let settings = store::StoreOptions {
            busy_timeout: options.busy_timeout,
            ..Default::default()
        };
        let store = store::open_with(&database_url, &settings)
            .await
            .expect("the store opens");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().unwrap();
        let config = ServerConfig {
            listen: address,
            rate_limit_per_minute: options.rate_limit_per_minute,
            max_body_bytes: options.max_body_bytes,
            request_timeout_secs: options.request_timeout_secs,
            cors_origins: options.cors_origins.clone(),
            event_retention_days: eryxon::config::DEFAULT_EVENT_RETENTION_DAYS,
            webhook_retry_schedule: options.webhook_retry_schedule.clone(),
            webhook_allowed_networks: options.webhook_allowed_networks.clone(),
            metrics: options.metrics,
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server_store = store.clone();
        let task = tokio::spawn(async move {
            eryxon::http::serve(listener, server_store, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        TestServer {
            base: format!("http://{address}"),
            database_url,
            store,
            options,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            task: Some(task),
            dir,
        }
    }

    /// Another server on this one's database, as a second `eryxon serve` would be.
    pub async fn beside(&self) -> TestServer {
        let (url, options, dir) = (
            self.database_url.clone(),
            self.options.clone(),
            self.dir.clone(),
        );
        TestServer::launch(url, options, dir).await
    }

    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(mut self) -> TestServer {
        self.stop().await;
        let (url, options, dir) = (
            self.database_url.clone(),
            self.options.clone(),
            self.dir.clone(),
        );
        drop(self);
        TestServer::launch(url, options, dir).await
    }

    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("the server task ends")
                .expect("the server ends cleanly");
        }
    }

    /// Runs `sql` (one or more statements) on the server's database directly, as another
    /// program sharing it would.
    pub async fn write_behind_the_server(&self, sql: &str) {
        if self.database_url.starts_with("sqlite:") {
            run_sql::<sqlx::SqliteConnection>(&self.database_url, sql).await;
        } else {
            run_sql::<sqlx::PgConnection>(&self.database_url, sql).await;
        }
    }

    /// A client of this server that spawned tasks can own.
    pub fn clone_client(&self) -> Client {
        Client {
            base: self.base.clone(),
            client: self.client.clone(),
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A new live API key for `tenant`.
    pub async fn key(&self, tenant: &str) -> String {
        self.key_in(tenant, Mode::Live).await
    }

    pub async fn key_in(&self, tenant: &str, mode: Mode) -> String {
        self.issue(tenant, mode, KeyScopes::ALL).await
    }

    /// A new live key for `tenant` holding only `scopes` (`"floor,read"`).
    pub async fn key_with_scopes(&self, tenant: &str, scopes: &str) -> String {
        self.issue(tenant, Mode::Live, KeyScopes::parse(scopes).unwrap())
            .await
    }

    async fn issue(&self, tenant: &str, mode: Mode, scopes: KeyScopes) -> String {
        let key = IssuedKey::generate(mode);
        let tenant = TenantSlug::parse(tenant).unwrap();
        self.store
            .create_api_key(&tenant, Some("test"), &key, scopes)
            .await
            .expect("the key is stored");
        key.secret
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Reply {
        let request = self.client.request(method, format!("{}{path}", self.base));
        Self::answer(request, key, body, content_type).await
    }

    /// A JSON call with an `Idempotency-Key` (`body` `None`: no body).
    pub async fn idempotent(
        &self,
        method: Method,
        path: &str,
        key: &str,
        idempotency_key: &str,
        body: Option<&Value>,
    ) -> Reply {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("idempotency-key", idempotency_key);
        let body = body.map(|b| serde_json::to_vec(b).unwrap());
        let content_type = body.as_ref().map(|_| "application/json");
        Self::answer(request, Some(key), body, content_type).await
    }

    async fn answer(
        mut request: reqwest::RequestBuilder,
        key: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> Reply {
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes))
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn json(&self, method: Method, path: &str, key: &str, body: &Value) -> Reply {
        self.send(
            method,
            path,
            Some(key),
            Some(serde_json::to_vec(body).unwrap()),
            Some("application/json"),
        )
        .await
    }

    pub async fn put(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.json(Method::PUT, path, key, body).await
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Reply {
        self.json(Method::POST, path, key, body).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.send(Method::GET, path, Some(key), None, None).await
    }

    pub async fn delete(&self, path: &str, key: &str) -> Reply {
        self.send(Method::DELETE, path, Some(key), None, None).await
    }

    /// Every record of an entity, as the list endpoint shows them.
    pub async fn all(&self, entity: &str, key: &str) -> Vec<Value> {
        let reply = self
            .get(&format!("/api-{entity}?limit=1000"), key)
            .await
            .expect(200);
        reply.data()[entity].as_array().expect("a list").clone()
    }

    /// The newest event of `types` (a feed filter such as `cell.*`), as the feed shows it.
    pub async fn last_event(&self, types: &str, key: &str) -> Value {
        let path = format!("/api-events?types={types}&limit=1000");
        let reply = self.get(&path, key).await.expect(200);
        let events = reply.data()["events"].as_array().expect("a list");
        events.last().expect("an event of those types").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

pub async fn run_sql<C: sqlx::Connection>(url: &str, sql: &str)
where
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    let mut db = C::connect(url).await.expect("the database opens");
    sqlx::raw_sql(sql)
        .execute(&mut db)
        .await
        .expect("the write runs");
}

/// A cheap handle on a test server's address, for concurrent requests from spawned tasks.
#[derive(Clone)]
pub struct Client {
    base: String,
    client: reqwest::Client,
}

impl Client {
    /// The JSON body of a `GET` that must answer 200.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// The status of a `POST` without a body.
    pub async fn post_status(&self, path: &str, key: &str) -> u16 {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("the server answers")
            .status()
            .as_u16()
    }
}
