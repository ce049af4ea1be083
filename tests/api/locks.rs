//! SQLite: other processes write to the same file (an `eryxon` command, `eryxon push
//! --database`, a second server, the `sqlite3` shell). The server waits for their write lock up
//! to its busy timeout, and past it answers `503` with `Retry-After`, having written nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Connection;

use crate::common::{Engine, Options, Reply, TestServer};
use crate::deploy::{create_key, Instance};

/// Holds the file's write lock from a connection of its own until the returned sender fires
/// (or `longest` passes), as another program in the middle of a write would.
async fn hold_write_lock(url: &str, longest: Duration) -> tokio::sync::oneshot::Sender<()> {
    let mut other = sqlx::SqliteConnection::connect(url)
        .await
        .expect("another connection");
    for statement in ["BEGIN IMMEDIATE", "UPDATE cells SET notes = notes WHERE 0"] {
        sqlx::query(statement)
            .execute(&mut other)
            .await
            .expect("the other connection takes the write lock");
    }
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(longest, released).await;
        sqlx::query("COMMIT")
            .execute(&mut other)
            .await
            .expect("the other connection commits");
    });
    release
}

fn cell(external_id: &str, name: &str) -> Value {
    json!({"external_id": external_id, "external_source": "SAP", "name": name})
}

/// Every kind of write the server makes waits for the lock and then succeeds: a new record, an
/// unchanged re-send, a bulk call, a delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_another_process_holding_the_lock() {
    let server = Arc::new(TestServer::start(Engine::Sqlite).await);
    let key = server.key("acme").await;
    server
        .put("/api-cells/sync", &key, &cell("WC-KEEP", "kept"))
        .await
        .expect(201);
    let doomed = server
        .put("/api-cells/sync", &key, &cell("WC-GONE", "gone"))
        .await
        .expect(201);
    let doomed_id = doomed.data()["id"].as_str().unwrap().to_owned();

    let hold = Duration::from_millis(800);
    let release = hold_write_lock(&server.database_url, Duration::from_secs(30)).await;
    let started = Instant::now();
    let writes = vec![
        tokio::spawn({
            let (server, key) = (server.clone(), key.clone());
            async move {
                server
                    .put("/api-cells/sync", &key, &cell("LOCK2", "x"))
                    .await
            }
        }),
        tokio::spawn({
            let (server, key) = (server.clone(), key.clone());
            async move {
                server
                    .put("/api-cells/sync", &key, &cell("WC-KEEP", "kept"))
                    .await
            }
        }),
        tokio::spawn({
            let (server, key) = (server.clone(), key.clone());
            let body = json!({"cells": [cell("B-1", "b1"), cell("B-2", "b2")]});
            async move { server.post("/api-cells/bulk-sync", &key, &body).await }
        }),
        tokio::spawn({
            let (server, key) = (server.clone(), key.clone());
            async move {
                let path = format!("/api-cells/{doomed_id}");
                server.delete(&path, &key).await
            }
        }),
    ];
    tokio::time::sleep(hold).await;
    release.send(()).unwrap();
    let replies: Vec<Reply> = futures::future::join_all(writes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert!(started.elapsed() >= hold);
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(statuses, [201, 200, 200, 200], "{replies:#?}");
    assert_eq!(replies[1].data()["unchanged"], true);
    let mut names: Vec<String> = server
        .all("cells", &key)
        .await
        .iter()
        .map(|c| c["external_id"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["B-1", "B-2", "LOCK2", "WC-KEEP"]);
}

/// A lock held past the busy timeout: each write is answered 503 with `Retry-After` once the
/// timeout has passed (not at once, and not 500), nothing of it is stored, and sent again after
/// the lock is gone it goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_too_long_is_503() {
    let options = Options {
        busy_timeout: Duration::from_millis(500),
        ..Options::default()
    };
    let server = Arc::new(TestServer::start_with(Engine::Sqlite, options).await);
    let key = server.key("acme").await;
    let release = hold_write_lock(&server.database_url, Duration::from_secs(30)).await;

    // Singles that arrive together share a transaction on SQLite; a bulk call runs alone.
    let writes = (0..6).map(|i| {
        let (server, key) = (server.clone(), key.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let reply = if i == 0 {
                let body = json!({"cells": [cell("B-1", "b1"), cell("B-2", "b2")]});
                server.post("/api-cells/bulk-sync", &key, &body).await
            } else {
                let body = cell(&format!("C-{i}"), "c");
                server.put("/api-cells/sync", &key, &body).await
            };
            (reply, started.elapsed())
        })
    });
    let replies: Vec<(Reply, Duration)> = futures::future::join_all(writes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (reply, waited) in &replies {
        assert_eq!(reply.status.as_u16(), 503, "{:#}", reply.body);
        assert_eq!(reply.error_code(), "SERVICE_UNAVAILABLE");
        assert_eq!(reply.header("retry-after"), Some("1"));
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("locked"), "{message}");
        // Waited for the lock, and only about once: grouped syncs are not retried one by one.
        assert!(*waited >= Duration::from_millis(450), "after {waited:?}");
        assert!(*waited < Duration::from_secs(3), "after {waited:?}");
    }
    release.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert!(
        server.all("cells", &key).await.is_empty(),
        "nothing written"
    );
    let history = server.get("/api-sync/imports", &key).await.expect(200);
    assert_eq!(history.data()["pagination"]["total"], 0);
    server
        .put("/api-cells/sync", &key, &cell("C-1", "c"))
        .await
        .expect(201);
    let body = json!({"cells": [cell("B-1", "b1"), cell("B-2", "b2")]});
    let bulk = server.post("/api-cells/bulk-sync", &key, &body).await;
    assert_eq!(bulk.expect(200).data()["created"], 2);
}

/// Two `eryxon serve` processes on one SQLite file, 400 syncs 16 at a time across both, with
/// keys created by `eryxon api-key create` meanwhile: no answer is a 5xx other than 503, and
/// every acknowledged record is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_sqlite_file_lose_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    let key = create_key(&url);
    let servers = Arc::new([
        Instance::spawn(&url, 1_000_000).await,
        Instance::spawn(&url, 1_000_000).await,
    ]);
    let keys_meanwhile = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || (0..5).map(|_| create_key(&url)).collect::<Vec<_>>())
    };
    let requests = futures::stream::iter(0..400).map(|i| {
        let (servers, key) = (servers.clone(), key.clone());
        async move {
            let server = &servers[i % 2];
            let response = if i % 10 == 0 {
                let cells: Vec<Value> = (0..20)
                    .map(|j| cell(&format!("B-{i}-{j}"), "bulk"))
                    .collect();
                let path = format!("{}/api-cells/bulk-sync", server.base);
                reqwest::Client::new()
                    .post(path)
                    .bearer_auth(&key)
                    .json(&json!({ "cells": cells }))
                    .send()
                    .await
                    .expect("the server answers")
            } else {
                server
                    .put("/api-cells/sync", &key, &cell(&format!("C-{i}"), "one"))
                    .await
            };
            (i, response.status().as_u16())
        }
    });
    use futures::StreamExt;
    let answers: Vec<(usize, u16)> = requests.buffer_unordered(16).collect().await;
    assert!(
        answers.iter().all(|(_, s)| matches!(s, 200 | 201 | 503)),
        "{answers:?}"
    );
    let created_keys = keys_meanwhile.await.unwrap();
    assert_eq!(created_keys.len(), 5);

    let mut expected: Vec<String> = answers
        .iter()
        .filter(|(_, status)| *status < 300)
        .flat_map(|&(i, _)| {
            if i % 10 == 0 {
                (0..20).map(|j| format!("B-{i}-{j}")).collect()
            } else {
                vec![format!("C-{i}")]
            }
        })
        .collect();
    expected.sort();
    let mut stored: Vec<String> = Vec::new();
    for offset in [0, 1000] {
        let path = format!("/api-cells?limit=1000&offset={offset}");
        let page: Value = servers[0].get(&path, &key).await.json().await.unwrap();
        let cells = page["data"]["cells"].as_array().unwrap();
        stored.extend(
            cells
                .iter()
                .map(|c| c["external_id"].as_str().unwrap().to_owned()),
        );
    }
    stored.sort();
    assert_eq!(
        stored, expected,
        "every acknowledged record, and only those"
    );
    let refused = answers.iter().filter(|(_, s)| *s == 503).count();
    // With the default busy timeout (5 s) and writes of a few milliseconds, none waits that long.
    assert_eq!(refused, 0, "{refused} of 400 answered 503");
    for server in Arc::try_unwrap(servers).ok().unwrap() {
        server.stop().await;
    }
}
