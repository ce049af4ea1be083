//! Several server processes on one PostgreSQL behave as one service.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::eryxon;
use crate::common::fresh_postgres_database;

/// An `eryxon serve` process on a port of its own choosing.
pub struct Instance {
    pub base: String,
    child: Child,
    client: reqwest::Client,
    /// Everything the server logged so far.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Instance {
    pub async fn spawn(database_url: &str, rate_limit: u32) -> Instance {
        Instance::spawn_with(database_url, rate_limit, &[]).await
    }

    /// `spawn`, with more environment variables.
    pub async fn spawn_with(database_url: &str, rate_limit: u32, env: &[(&str, &str)]) -> Instance {
        Instance::spawn_under(&[], database_url, rate_limit, env).await
    }

    /// `spawn_with`, the server run by `wrapper` (a program and its arguments that runs the
    /// command line after them, such as `prlimit --fsize=…`).
    pub async fn spawn_under(
        wrapper: &[&str],
        database_url: &str,
        rate_limit: u32,
        env: &[(&str, &str)],
    ) -> Instance {
        let server = env!("CARGO_BIN_EXE_eryxon");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(server);
                command
            }
            None => Command::new(server),
        };
        let mut child = command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                database_url,
            ])
            .args(["--rate-limit-per-minute", &rate_limit.to_string()])
            .env("ERYXON_LOG", "info")
            // The webhook tests' receivers listen on loopback.
            .env("ERYXON_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let address = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("server logs") {
                logs.lock().unwrap().push(line.clone());
                if let Some(rest) = line.split("address=").nth(1) {
                    return rest.split_whitespace().next().unwrap().to_owned();
                }
            }
            // What it said is why: a migration that failed, a file it could not open.
            let said = logs.lock().unwrap().join("\n");
            panic!("the server exited before listening; it said:\n{said}");
        })
        .await
        .expect("the server listens within 30 s");
        // Keep draining the logs so the server never blocks on a full pipe.
        let kept = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });
        Instance {
            base: format!("http://{address}"),
            child,
            client: reqwest::Client::new(),
            logs,
        }
    }

    pub async fn put(&self, path: &str, key: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .put(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("the instance answers")
    }

    pub async fn get(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("the instance answers")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server runs")
    }

    /// The server's resident memory now, from /proc (kB).
    pub fn rss_kb(&self) -> u64 {
        let pid = self.pid();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

pub fn create_key(database_url: &str) -> String {
    let output = eryxon(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--database",
        database_url,
    ]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Waits out the end of a rate-limit minute, so a test's requests fall in one window.
async fn start_of_a_fresh_window_margin() {
    let second = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second > 45 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: ./scripts/test.sh starts one"]
async fn two_instances_on_one_postgres_behave_as_one() {
    let url = fresh_postgres_database().await;
    let key = create_key(&url);
    let limit = 60;
    let (a, b) = tokio::join!(Instance::spawn(&url, limit), Instance::spawn(&url, limit));
    start_of_a_fresh_window_margin().await;

    let writers = (0..20).map(|i| {
        let instance = if i % 2 == 0 { &a } else { &b };
        let body = json!({"external_id": "SO-SHARED", "external_source": "SAP",
            "job_number": "SHARED", "notes": format!("writer {i}")});
        let key = key.clone();
        async move {
            instance
                .put("/api-jobs/sync", &key, &body)
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures::future::join_all(writers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{statuses:?}"
    );
    for instance in [&a, &b] {
        let list: serde_json::Value = instance.get("/api-jobs", &key).await.json().await.unwrap();
        assert_eq!(
            list["data"]["pagination"]["total"], 1,
            "one row, seen by both"
        );
    }

    // 22 requests so far. The rest of the minute's budget is shared by both instances.
    let mut accepted = 22;
    let mut refused = 0;
    for i in 0..60 {
        let instance = if i % 2 == 0 { &a } else { &b };
        match instance.get("/api-cells", &key).await.status().as_u16() {
            200 => accepted += 1,
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(accepted, limit, "the limit holds across instances");
    assert_eq!(refused, 22);

    let revoked = eryxon(&["api-key", "revoke", &key[..21], "--database", &url]);
    assert!(revoked.status.success());
    for instance in [&a, &b] {
        assert_eq!(instance.get("/api-cells", &key).await.status(), 401);
    }
    a.stop().await;
    b.stop().await;
}

/// The `pg_ctl` of the test PostgreSQL, for a test that stops it. Such a test breaks every
/// other test using that server at the time, so it runs only when asked to with
/// `ERYXON_TEST_OUTAGE=1`, which `scripts/test.sh` sets for a pass of its own after the rest.
fn outage_pg_ctl() -> String {
    assert!(
        std::env::var_os("ERYXON_TEST_OUTAGE").is_some(),
        "this test stops the shared PostgreSQL, so it runs alone: ERYXON_TEST_OUTAGE=1 \
         ./scripts/with-postgres.sh cargo test --test api deploy::outage_ -- --ignored \
         --test-threads=1 (./scripts/test.sh does)"
    );
    std::env::var("ERYXON_TEST_PG_CTL")
        .expect("ERYXON_TEST_PG_CTL, the pg_ctl of the server ./scripts/with-postgres.sh starts")
}

/// Stops the shared test PostgreSQL, so it runs alone, after the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stops PostgreSQL: ./scripts/test.sh runs it alone, after the rest"]
async fn outage_answers_503_and_recovers_without_restart() {
    let pg_ctl = outage_pg_ctl();
    let url = fresh_postgres_database().await;
    let key = create_key(&url);
    let server = Instance::spawn(&url, 10_000).await;
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"});
    assert_eq!(
        server.put("/api-cells/sync", &key, &cell).await.status(),
        201
    );

    let stopped = std::process::Command::new(&pg_ctl)
        .args(["stop", "-m", "fast"])
        .status();
    assert!(stopped.unwrap().success());
    let started = std::time::Instant::now();
    let reply = server.put("/api-cells/sync", &key, &cell).await;
    assert_eq!(reply.status(), 503);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fails fast, not a hang"
    );
    let probe = std::time::Instant::now();
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
    assert!(
        probe.elapsed() < Duration::from_millis(1800),
        "a probe with a 2 s timeout reads the 503: {:?}",
        probe.elapsed()
    );
    // A scrape says the database is away, and no stale age of the oldest pending delivery.
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("\neryxon_db_up 0\n"), "{metrics}");
    assert!(
        metrics.contains("\neryxon_webhook_oldest_pending_seconds NaN\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\neryxon_webhook_endpoints{state=\"active\"} NaN\n"),
        "the endpoints by state are unknown too: {metrics}"
    );

    let restarted = std::process::Command::new(&pg_ctl).arg("start").status();
    assert!(restarted.unwrap().success());
    let mut recovered = false;
    for _ in 0..50 {
        if server.put("/api-cells/sync", &key, &cell).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        recovered,
        "the same server process serves again once PostgreSQL is back"
    );
    let health = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("\neryxon_db_up 1\n"), "{metrics}");
    server.stop().await;
}

/// PostgreSQL itself crashes (immediate shutdown, no checkpoint) under load, five times: every
/// job is whole or absent, nothing acknowledged is lost, nothing is duplicated, and the same
/// server process serves again after each restart. Runs alone, after the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "crashes PostgreSQL: ./scripts/test.sh runs it alone, after the rest"]
async fn outage_postgres_crashes_under_load_leave_no_half_written_job() {
    use sqlx::Connection;

    let pg_ctl = outage_pg_ctl();
    let url = fresh_postgres_database().await;
    // The throwaway server trades durability for speed (fsync, full_page_writes and
    // synchronous_commit off): a crash may lose commits it acknowledged. Production keeps
    // PostgreSQL's defaults, which this test restores (it runs last, alone) before crashing it.
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    for setting in ["fsync", "full_page_writes", "synchronous_commit"] {
        sqlx::query(&format!("ALTER SYSTEM SET {setting} = on"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    admin.close().await.unwrap();
    let restarted = std::process::Command::new(&pg_ctl)
        .args(["restart", "-m", "fast"])
        .status();
    assert!(restarted.unwrap().success());
    let key = create_key(&url);
    let server = Instance::spawn(&url, 1_000_000).await;
    let cell = json!({"external_id": "WC-1", "external_source": "ERP", "name": "Cutting"});
    assert_eq!(
        server.put("/api-cells/sync", &key, &cell).await.status(),
        201
    );

    let mut acknowledged = std::collections::BTreeSet::new();
    for round in 0..5 {
        let clients: Vec<_> = (0..3)
            .map(|c| {
                tokio::spawn(crate::crash::client(
                    server.base.clone(),
                    key.clone(),
                    round,
                    c,
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(150 + round as u64 * 70)).await;
        let stopped = std::process::Command::new(&pg_ctl)
            .args(["stop", "-m", "immediate"])
            .status();
        assert!(stopped.unwrap().success());
        for done in clients {
            acknowledged.extend(done.await.unwrap());
        }
        // Crash recovery on a loaded 2-core machine can outlast pg_ctl's default 60 s wait.
        let started = std::process::Command::new(&pg_ctl)
            .args(["start", "-t", "300"])
            .status();
        assert!(started.unwrap().success());
        let mut healthy = false;
        for _ in 0..100 {
            if reqwest::get(format!("{}/healthz", server.base))
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                healthy = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(healthy, "the server recovers after PostgreSQL restarts");
    }
    assert!(
        acknowledged.len() > 50,
        "the load got going: {}",
        acknowledged.len()
    );

    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
    let half_written: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM jobs AS j WHERE NOT ({})",
        crate::crash::WHOLE_JOB
    ))
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(half_written, 0, "every stored job is whole");
    let stored: std::collections::BTreeSet<String> =
        sqlx::query_scalar("SELECT external_id FROM jobs")
            .fetch_all(&mut db)
            .await
            .unwrap()
            .into_iter()
            .collect();
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    server.stop().await;
}
