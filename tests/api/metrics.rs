//! `GET /metrics`: the counters move with the traffic a test sends, routes are labelled by
//! their template, and the page can be turned off.
//!
//! The recorder is one per process and the suite runs many servers in one process, so the
//! exact counts are read from an `eryxon serve` process of the test's own; the in-process
//! servers are checked for sharing that one recorder without trouble, by deltas only.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::{Engine, Options, TestServer};
use crate::deploy::{create_key, Instance};
use crate::webhook_receiver::Receiver;

/// One scrape: each series (name and its sorted labels) with its value.
struct Scrape(HashMap<(String, Vec<(String, String)>), f64>);

impl Scrape {
    /// Parses the text format just enough for the tests: `name{a="b",…} value` lines, comments
    /// skipped. Label values here never hold commas, quotes or braces.
    fn parse(text: &str) -> Scrape {
        let mut series = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (head, value) = line.rsplit_once(' ').expect("a value after the series");
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (head, ""),
            };
            let mut labels: Vec<(String, String)> = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let (k, v) = l.split_once('=').expect("label=value");
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            labels.sort();
            let value = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
            series.insert((name.to_owned(), labels), value);
        }
        Scrape(series)
    }

    /// The series with exactly these labels, 0 when it is not there yet.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        self.0
            .get(&(name.to_owned(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// The label values that a name's series carry under `label`.
    fn values_of(&self, name: &str, label: &str) -> Vec<String> {
        self.0
            .keys()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, labels)| labels.iter().filter(|(k, _)| k == label))
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn total(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, v)| v)
            .sum()
    }
}

async fn scrape(base: &str) -> Scrape {
    let response = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    Scrape::parse(&response.text().await.expect("a body"))
}

fn cell(external_id: &str) -> serde_json::Value {
    json!({"external_id": external_id, "external_source": "SAP", "name": external_id})
}

/// A server process of this test's own, so nothing else moves its counters.
async fn own_server(dir: &tempfile::TempDir, rate_limit: u32) -> (Instance, String) {
    let url = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    let key = create_key(&url);
    (Instance::spawn(&url, rate_limit).await, key)
}

/// A fresh server shows the counters an alert watches at 0 before anything moved them, so a
/// `rate()` or `increase()` sees 0, not no series, and counts the first increment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_on_the_page_from_the_start() {
    let dir = tempfile::TempDir::new().unwrap();
    let (server, _key) = own_server(&dir, 8).await;
    let page = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut expected = vec![
        "eryxon_rate_limited_total 0".to_owned(),
        "eryxon_write_retries_total 0".to_owned(),
    ];
    for result in ["delivered", "retry", "failed", "disabled"] {
        expected.push(format!(
            "eryxon_webhook_deliveries_total{{result=\"{result}\"}} 0"
        ));
    }
    for entity in ["job", "part", "operation", "cell", "resource"] {
        for action in ["created", "updated", "unchanged", "error"] {
            expected.push(format!(
                "eryxon_sync_records_total{{entity=\"{entity}\",action=\"{action}\"}} 0"
            ));
        }
    }
    let lines: Vec<&str> = page.lines().collect();
    for line in expected {
        assert!(lines.contains(&line.as_str()), "{line} in\n{page}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_move_with_the_traffic() {
    let dir = tempfile::TempDir::new().unwrap();
    let (server, key) = own_server(&dir, 8).await;
    let before = scrape(&server.base).await;

    let created = server.put("/api-cells/sync", &key, &cell("C1")).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["data"]["id"]
        .as_str()
        .expect("the created cell's id")
        .to_owned();
    // One unchanged re-send and one invalid record (no name) in a bulk call.
    let bulk = reqwest::Client::new()
        .post(format!("{}/api-cells/bulk-sync", server.base))
        .bearer_auth(&key)
        .json(&json!({"cells": [cell("C1"), {"external_id": "C2", "external_source": "SAP"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bulk.status(), 200, "{:?}", bulk.text().await);
    assert_eq!(
        server.get(&format!("/api-cells/{id}"), &key).await.status(),
        200
    );
    assert_eq!(server.get("/no/such/path", &key).await.status(), 404);
    // A dry run writes nothing, so counts nothing.
    let dry = server
        .put("/api-cells/sync?dry_run=true", &key, &cell("C3"))
        .await;
    assert_eq!(dry.status(), 201);
    // A delete's event is written in a transaction of the store's own (`Tx`).
    let deleted = reqwest::Client::new()
        .delete(format!("{}/api-cells/{id}", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    // A method of the client's own making is counted, under `other`.
    let odd = reqwest::Method::from_bytes(b"M0001AAAA").unwrap();
    let answered = reqwest::Client::new()
        .request(odd, format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 405);

    let after = scrape(&server.base).await;
    let grew =
        |name: &str, labels: &[(&str, &str)]| after.get(name, labels) - before.get(name, labels);
    let records = "eryxon_sync_records_total";
    assert_eq!(
        grew(records, &[("entity", "cell"), ("action", "created")]),
        1.0
    );
    assert_eq!(
        grew(records, &[("entity", "cell"), ("action", "unchanged")]),
        1.0
    );
    assert_eq!(
        grew(records, &[("entity", "cell"), ("action", "error")]),
        1.0
    );
    assert_eq!(
        grew(records, &[("entity", "cell"), ("action", "updated")]),
        0.0
    );

    let requests = "eryxon_http_requests_total";
    let put = [
        ("method", "PUT"),
        ("route", "/api-cells/sync"),
        ("status", "201"),
    ];
    assert_eq!(grew(requests, &put), 2.0, "the sync and the dry run");
    let by_id = [
        ("method", "GET"),
        ("route", "/api-cells/{id}"),
        ("status", "200"),
    ];
    assert_eq!(
        grew(requests, &by_id),
        1.0,
        "the route's template, not its path"
    );
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "404")];
    assert_eq!(grew(requests, &unmatched), 1.0);
    let other = [
        ("method", "other"),
        ("route", "/healthz"),
        ("status", "405"),
    ];
    assert_eq!(grew(requests, &other), 1.0);
    let methods = after.values_of(requests, "method");
    assert!(
        methods.iter().all(|m| !m.starts_with("M0001")),
        "no method of a client's own making is a label: {methods:?}"
    );
    let routes = after.values_of(requests, "route");
    assert!(
        routes
            .iter()
            .all(|r| !r.contains(&id) && !r.contains("/no/such")),
        "no raw path is a label: {routes:?}"
    );
    let duration = [("method", "PUT"), ("route", "/api-cells/sync")];
    assert_eq!(
        grew("eryxon_http_request_duration_seconds_count", &duration),
        2.0
    );

    // The cell's creation, its deletion and each call's `sync.completed` (the bulk one
    // rejected a record); the dry run's none.
    let deletions = [("type", "cell.deleted")];
    assert_eq!(grew("eryxon_events_total", &deletions), 1.0);
    assert_eq!(
        grew("eryxon_events_total", &[("type", "cell.created")]),
        1.0
    );
    assert_eq!(
        grew("eryxon_events_total", &[("type", "sync.completed")]),
        2.0
    );

    let pools = after.values_of("eryxon_db_pool_connections", "state");
    assert!(pools.contains(&"idle".to_owned()) && pools.contains(&"active".to_owned()));
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(after.get("eryxon_build_info", &version), 1.0);

    // The key's 8 requests a minute: 5 above, then until refused.
    let mut refused = 0;
    for _ in 0..6 {
        if server.get("/api-cells", &key).await.status() == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 1, "the limit was reached");
    let limited = scrape(&server.base).await;
    assert_eq!(
        limited.total("eryxon_rate_limited_total") - after.total("eryxon_rate_limited_total"),
        f64::from(refused)
    );
    let status_429 = [
        ("method", "GET"),
        ("route", "/api-cells"),
        ("status", "429"),
    ];
    assert_eq!(limited.get(requests, &status_429), f64::from(refused));
    server.stop().await;
}

/// A request cut off by the time limit is counted as the client read it, `408`, and not under
/// what its handler answered after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_408_is_counted_as_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    let key = create_key(&url);
    let env = [("ERYXON_REQUEST_TIMEOUT_SECS", "1")];
    let server = Instance::spawn_with(&url, 1000, &env).await;
    let before = scrape(&server.base).await;

    let address = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "PUT /api-cells/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    let after = scrape(&server.base).await;
    let counted = |status: &str| {
        let labels = [
            ("method", "PUT"),
            ("route", "/api-cells/sync"),
            ("status", status),
        ];
        after.get("eryxon_http_requests_total", &labels)
            - before.get("eryxon_http_requests_total", &labels)
    };
    assert_eq!(counted("408"), 1.0);
    assert_eq!(counted("400"), 0.0);
    server.stop().await;
}

/// The test suite's servers share one recorder: a second server does not fail to install
/// it, and each serves the counts of all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_in_one_process_share_the_recorder() {
    let one = TestServer::start(Engine::Sqlite).await;
    let two = TestServer::start(Engine::Sqlite).await;
    let key = one.key("acme").await;
    let route = [
        ("method", "GET"),
        ("route", "/api-jobs/{id}"),
        ("status", "404"),
    ];
    let before = scrape(&two.base)
        .await
        .get("eryxon_http_requests_total", &route);
    one.get(&format!("/api-jobs/{}", Uuid::now_v7()), &key)
        .await
        .expect(404);
    let after = scrape(&two.base)
        .await
        .get("eryxon_http_requests_total", &route);
    assert!(after > before, "{before} -> {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off() {
    let options = Options {
        metrics: false,
        ..Options::default()
    };
    let server = TestServer::start_with(Engine::Sqlite, options).await;
    let response = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The environment variable, as operators set it, on the real binary.
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    let server = Instance::spawn_with(&url, 100, &[("ERYXON_METRICS", "false")]).await;
    let response = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    server.stop().await;
}

/// `eryxon_webhook_deliveries_total{result}` counts each attempt once it is on record, and
/// `eryxon_webhook_oldest_pending_seconds` shows how long the oldest undelivered event has
/// waited, back to 0 once it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_metrics_follow_deliveries() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    let key = create_key(&url);
    let server = Instance::spawn_with(&url, 1000, &[("ERYXON_WEBHOOK_RETRY_SCHEDULE", "1s")]).await;
    let receiver = Receiver::start().await;
    // The first attempt fails, the second waits 3 s before answering 200.
    receiver.answer_next(1, 500, None);
    let created = reqwest::Client::new()
        .post(format!("{}/api-webhooks", server.base))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url, "events": ["cell.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let created_id = created["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .put("/api-cells/sync", &key, &cell("C1"))
            .await
            .status(),
        201
    );
    receiver.wait_for(1, Duration::from_secs(10)).await;
    receiver.slow(Duration::from_secs(3));
    receiver.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting = scrape(&server.base).await;
    assert_eq!(
        waiting.get("eryxon_webhook_deliveries_total", &[("result", "retry")]),
        1.0
    );
    let age = waiting.get("eryxon_webhook_oldest_pending_seconds", &[]);
    assert!(age >= 1.0, "the event has waited over a second: {age}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let delivered = loop {
        let now = scrape(&server.base).await;
        if now.get(
            "eryxon_webhook_deliveries_total",
            &[("result", "delivered")],
        ) > 0.0
        {
            break now;
        }
        assert!(Instant::now() < deadline, "no delivery counted within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        delivered.get(
            "eryxon_webhook_deliveries_total",
            &[("result", "delivered")]
        ),
        1.0
    );
    assert_eq!(
        delivered.get("eryxon_webhook_oldest_pending_seconds", &[]),
        0.0
    );
    assert_eq!(receiver.seen().len(), 2, "one failure, one delivery");
    let endpoints =
        |m: &Scrape, state: &str| m.get("eryxon_webhook_endpoints", &[("state", state)]);
    assert_eq!(endpoints(&delivered, "active"), 1.0);
    assert_eq!(endpoints(&delivered, "paused"), 0.0);

    // Switched off by hand: paused, not disabled (which asks for someone's attention).
    let id = created_id;
    let paused = reqwest::Client::new()
        .patch(format!("{}/api-webhooks/{id}", server.base))
        .bearer_auth(&key)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), 200);
    let now = scrape(&server.base).await;
    assert_eq!(endpoints(&now, "active"), 0.0);
    assert_eq!(endpoints(&now, "paused"), 1.0);
    assert_eq!(endpoints(&now, "disabled"), 0.0);
    server.stop().await;
}
