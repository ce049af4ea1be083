//! A stop: the requests in flight are answered, and writes already answered `408` end before
//! the server does, rather than being rolled back.

use serde_json::json;
use sqlx::Connection;

use crate::common::{Engine, Options, TestServer};
use crate::on_every_engine;

/// 1000 jobs of 5 parts of 4 operations, on cell WC-1: a write that takes a while.
fn large_bulk() -> Vec<u8> {
    let jobs: Vec<_> = (0..1000)
        .map(|j| json!({"external_id": format!("SO-{j}"), "external_source": "SAP", "job_number": format!("{j}"),
            "parts": (0..5).map(|p| json!({"external_id": format!("SO-{j}-{p}"), "part_number": "p",
                "operations": (0..4).map(|o| json!({"external_id": format!("SO-{j}-{p}-{o}"),
                    "operation_name": "cut", "cell_name": "Cutting"})).collect::<Vec<_>>()}))
                .collect::<Vec<_>>()}))
        .collect();
    serde_json::to_vec(&json!({"jobs": jobs})).unwrap()
}

async fn shutdown_lets_in_flight_requests_finish(engine: Engine) {
    let mut server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"});
    server.put("/api-cells/sync", &key, &cell).await.expect(201);
    let url = format!("{}/api-jobs/bulk-sync", server.base);
    // Serialized up front, so that by the time shutdown begins the request has been sent: a
    // connection that has not sent its request yet is idle, and idle connections are closed.
    let body = large_bulk();
    let in_flight = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        (response, std::time::Instant::now())
    });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let stopping = std::time::Instant::now();
    server.stop().await;
    let (response, answered) = in_flight.await.unwrap();
    let response = response.expect("answered, not cut off");
    assert!(
        answered > stopping,
        "the request was still running when shutdown began"
    );
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["created"], 1000);
    assert_eq!(
        body["data"]["results"][999]["parts"][4]["operations"][3]["action"],
        "created"
    );
}

/// A write answered `408` runs to its end, and a stop right after the `408` waits for it
/// instead of rolling it back. Once, on SQLite: the wait is the server's, not the engine's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_waits_for_a_write_answered_408() {
    let options = Options {
        request_timeout_secs: 1,
        ..Default::default()
    };
    let mut server = TestServer::start_with(Engine::Sqlite, options).await;
    let key = server.key("acme").await;
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"});
    server.put("/api-cells/sync", &key, &cell).await.expect(201);
    let answer = server
        .send(
            reqwest::Method::POST,
            "/api-jobs/bulk-sync",
            Some(&key),
            Some(large_bulk()),
            Some("application/json"),
        )
        .await;
    assert_eq!(answer.status, 408, "the write outlasts the 1 s timeout");
    server.stop().await;
    // Read behind the server, as the next process would: a store opened here would wait for
    // the write's lock on SQLite, and hide a stop that did not.
    let count = "SELECT count(*) FROM jobs";
    let jobs: i64 = if server.database_url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(&server.database_url).await;
        sqlx::query_scalar(count)
            .fetch_one(db.as_mut().unwrap())
            .await
    } else {
        let mut db = sqlx::PgConnection::connect(&server.database_url).await;
        sqlx::query_scalar(count)
            .fetch_one(db.as_mut().unwrap())
            .await
    }
    .unwrap();
    assert_eq!(jobs, 1000, "the write ended before the stop did");
}

on_every_engine!(shutdown_lets_in_flight_requests_finish);
