//! Concurrent writers and restarts: nothing duplicated, nothing lost.

use serde_json::{json, Value};
use sqlx::Connection;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

async fn concurrent_upserts_of_one_new_record_create_it_once(engine: Engine) {
    let server = std::sync::Arc::new(TestServer::start(engine).await);
    let key = server.key("acme").await;
    let requests = (0..25).map(|i| {
        let server = server.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let body = json!({"external_id": "SO-RACE", "external_source": "SAP",
                "job_number": "RACE", "notes": format!("writer {i}")});
            server.put("/api-jobs/sync", &key, &body).await
        })
    });
    let replies = futures::future::join_all(requests).await;
    let mut statuses: Vec<u16> = replies
        .iter()
        .map(|r| r.as_ref().unwrap().status.as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses[0], 200);
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 201),
        "{statuses:?}"
    );
    let ids: std::collections::HashSet<_> = replies
        .iter()
        .map(|r| r.as_ref().unwrap().data()["id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "every writer got the same record");
    assert_eq!(server.all("jobs", &key).await.len(), 1);
}

/// Writers whose batches overlap, each in another order and each mixing rows that exist with
/// rows that do not, must wait for each other: none may fail (a deadlock would answer 503),
/// and every record is created exactly once.
async fn overlapping_batches_in_opposite_orders_all_go_through(engine: Engine) {
    let server = std::sync::Arc::new(TestServer::start(engine).await);
    let key = server.key("acme").await;
    let job = |n: usize, writer: usize| {
        json!({"external_id": format!("SO-{n:04}"), "external_source": "SAP",
            "job_number": format!("{n}"), "notes": format!("writer {writer}")})
    };
    let existing: Vec<_> = (0..300).step_by(2).map(|n| job(n, 99)).collect();
    server
        .post("/api-jobs/bulk-sync", &key, &json!({ "jobs": existing }))
        .await
        .expect(200);

    let writers = (0..6).map(|writer| {
        let server = server.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let mut replies = Vec::new();
            for round in 0..4 {
                let mut keys: Vec<usize> = (0..300).filter(|n| (n + round) % 3 != 0).collect();
                if writer % 2 == 1 {
                    keys.reverse();
                }
                let jobs: Vec<_> = keys.iter().map(|&n| job(n, writer * 10 + round)).collect();
                replies.push(
                    server
                        .post("/api-jobs/bulk-sync", &key, &json!({ "jobs": jobs }))
                        .await,
                );
            }
            replies
        })
    });
    let mut created = 0;
    for replies in futures::future::join_all(writers).await {
        for reply in replies.unwrap() {
            let reply = reply.expect(200);
            assert_eq!(reply.data()["errors"], 0, "{:?}", reply.data());
            created += reply.data()["created"].as_u64().unwrap();
        }
    }
    assert_eq!(
        created, 150,
        "each new record is created by exactly one writer"
    );
    assert_eq!(server.all("jobs", &key).await.len(), 300);
}

async fn data_survives_a_restart(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let job = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "1",
        "parts": [{"external_id": "P", "part_number": "p", "quantity": 4}]});
    let created = server.put("/api-jobs/sync", &key, &job).await.expect(201);
    let server = server.restart().await;
    let again = server.put("/api-jobs/sync", &key, &job).await.expect(200);
    assert_eq!(again.data()["unchanged"], true);
    assert_eq!(again.data()["id"], created.data()["id"]);
    assert_eq!(server.all("parts", &key).await[0]["quantity"], 4);
}

/// SQLite commits concurrent syncs in one shared transaction. A sync that fails inside it
/// (here a trigger refuses one cell) must fail alone: every other sync is stored, with its
/// history entry, and answered as if it had run by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sync_does_not_take_concurrent_ones_with_it() {
    let server = std::sync::Arc::new(TestServer::start(Engine::Sqlite).await);
    let key = server.key("acme").await;
    let url = format!("sqlite://{}", server.dir().join("eryxon.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_boom BEFORE INSERT ON cells WHEN NEW.name = 'boom' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&mut db)
    .await
    .unwrap();

    for round in 0..5 {
        let requests = (0..40).map(|i| {
            let server = server.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let name = if i == 20 { "boom".to_owned() } else { format!("cell {i}") };
                let body = json!({"external_id": format!("C-{round}-{i}"), "external_source": "SAP", "name": name});
                server.put("/api-cells/sync", &key, &body).await.status.as_u16()
            })
        });
        let statuses: Vec<u16> = futures::future::join_all(requests)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        for (i, status) in statuses.iter().enumerate() {
            let expected = if i == 20 { 500 } else { 201 };
            assert_eq!(
                *status, expected,
                "round {round}, request {i}: {statuses:?}"
            );
        }
    }
    let cells = server.all("cells", &key).await;
    assert_eq!(cells.len(), 5 * 39);
    assert!(cells.iter().all(|c| c["name"] != "boom"));
    let history = server
        .get("/api-sync/imports?limit=1000", &key)
        .await
        .expect(200);
    assert_eq!(
        history.data()["pagination"]["total"],
        5 * 39,
        "one entry per stored sync"
    );
}

/// SQLite keeps in memory what it knows of the rows syncs wrote. A sync that wrote a row and
/// then failed before its commit must leave none of that behind: sent again, the change is
/// written, not answered as unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_that_does_not_commit_is_not_remembered() {
    let server = TestServer::start(Engine::Sqlite).await;
    // Refuses the history entry of a lone updated record, after its write, failing its sync.
    server
        .write_behind_the_server(
            "CREATE TRIGGER refuse_lone_update BEFORE INSERT ON sync_imports \
             WHEN NEW.total = 1 AND NEW.updated = 1 \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .await;
    let key = server.key("acme").await;
    let cell = |name: &str| json!({"external_id": "WC-1", "external_source": "SAP", "name": name});
    let bulk = |cells: Vec<serde_json::Value>| json!({"cells": cells});
    server
        .post("/api-cells/bulk-sync", &key, &bulk(vec![cell("a")]))
        .await
        .expect(200);
    let failed = server
        .post("/api-cells/bulk-sync", &key, &bulk(vec![cell("b")]))
        .await;
    assert_eq!(failed.status.as_u16(), 500);
    assert_eq!(server.all("cells", &key).await[0]["name"], "a");

    let other = json!({"external_id": "WC-2", "external_source": "SAP", "name": "z"});
    let again = server
        .post("/api-cells/bulk-sync", &key, &bulk(vec![cell("b"), other]))
        .await
        .expect(200);
    assert_eq!(
        again.data()["results"][0]["action"],
        "updated",
        "{:#}",
        again.data()
    );
    let cells = server.all("cells", &key).await;
    let wc1 = cells.iter().find(|c| c["external_id"] == "WC-1").unwrap();
    assert_eq!(wc1["name"], "b");
}

/// SQLite: what a sync commits is copied from the WAL into the database file by the server's
/// background checkpoint within moments, not left in the WAL until some later commit grows it
/// past its checkpoint size (a copy of the database file alone would miss it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_records_reach_the_database_file_in_the_background() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let file = server.dir().join("eryxon.db");
    let size = || std::fs::metadata(&file).expect("the database file").len();
    let before = size();
    let jobs: Vec<_> = (0..1000)
        .map(|n| {
            json!({"external_id": format!("SO-{n:04}"), "external_source": "SAP",
                "job_number": format!("{n}"), "customer": format!("Customer {n}")})
        })
        .collect();
    server
        .post("/api-jobs/bulk-sync", &key, &json!({ "jobs": jobs }))
        .await
        .expect(200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while size() < before + 128 * 1024 {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {} bytes (from {before})",
            size()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// PostgreSQL: tables filled by syncs get planner statistics at once (autovacuum would take a
/// minute or more), from an analysis of the columns syncs search by — on every table a sync
/// writes, so a column named wrong in any of them fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: ./scripts/test.sh starts one"]
async fn a_first_load_gives_every_table_planner_statistics() {
    let server = TestServer::start(Engine::Postgres).await;
    let key = server.key("acme").await;
    let cells: Vec<_> = (0..100)
        .map(|n| json!({"external_id": format!("C-{n}"), "external_source": "SAP", "name": format!("Cell {n}")}))
        .collect();
    let resources: Vec<_> = (0..100)
        .map(|n| json!({"external_id": format!("R-{n}"), "external_source": "SAP", "name": format!("Press {n}")}))
        .collect();
    let jobs: Vec<_> = (0..100)
        .map(|n| {
            json!({"external_id": format!("SO-{n}"), "external_source": "SAP", "job_number": format!("{n}"),
                "parts": [{"external_id": format!("SO-{n}-10"), "part_number": "P",
                    "operations": [{"external_id": format!("SO-{n}-10-1"), "operation_name": "Cut",
                        "cell_name": format!("Cell {n}")}]}]})
        })
        .collect();
    for (path, body) in [
        ("/api-cells/bulk-sync", json!({ "cells": cells })),
        (
            "/api-resources/bulk-sync",
            json!({ "resources": resources }),
        ),
        ("/api-jobs/bulk-sync", json!({ "jobs": jobs })),
    ] {
        let reply = server.post(path, &key, &body).await.expect(200);
        assert_eq!(reply.data()["created"], 100, "{path}");
    }
    let mut db = sqlx::PgConnection::connect(&server.database_url)
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    for table in ["cells", "resources", "jobs", "parts", "operations"] {
        loop {
            let rows: f32 =
                sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = $1::regclass")
                    .bind(table)
                    .fetch_one(&mut db)
                    .await
                    .unwrap();
            if rows >= 100.0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{table}: the planner still believes {rows} rows"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Concurrent single syncs of two tenants (SQLite commits them in shared transactions, writing
/// the group's history entries and each tenant's events together): each tenant's feed holds
/// exactly its own events, each sync's record event right before its `sync.completed`, which
/// names that sync's own history entry.
async fn concurrent_syncs_of_two_tenants_log_each_its_own_events(engine: Engine) {
    let server = std::sync::Arc::new(TestServer::start(engine).await);
    let tenants = [server.key("acme").await, server.key("globex").await];
    let requests = (0..120).map(|i| {
        let server = server.clone();
        let key = tenants[i % 2].clone();
        tokio::spawn(async move {
            let body = json!({"external_id": format!("T{}-{i}", i % 2),
                "external_source": "SAP", "job_number": format!("{i}")});
            server
                .put("/api-jobs/sync", &key, &body)
                .await
                .status
                .as_u16()
        })
    });
    for status in futures::future::join_all(requests).await {
        assert_eq!(status.unwrap(), 201);
    }
    for (t, key) in tenants.iter().enumerate() {
        let feed = server.get("/api-events?limit=1000", key).await.expect(200);
        let events = feed.data()["events"].as_array().unwrap().clone();
        assert_eq!(events.len(), 120, "tenant {t}: 60 syncs, two events each");
        let history = server
            .get("/api-sync/imports?limit=1000", key)
            .await
            .expect(200);
        let mut entries: Vec<String> = history.data()["imports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        let mut named = Vec::new();
        for pair in events.chunks(2) {
            assert_eq!(pair[0]["type"], "job.created", "{pair:#?}");
            let external_id = pair[0]["external_id"].as_str().unwrap();
            assert!(external_id.starts_with(&format!("T{t}-")), "{pair:#?}");
            assert_eq!(pair[1]["type"], "sync.completed", "{pair:#?}");
            assert_eq!(pair[1]["data"]["created"], 1, "{pair:#?}");
            named.push(pair[1]["data"]["import_id"].as_str().unwrap().to_owned());
        }
        entries.sort();
        named.sort();
        assert_eq!(
            named, entries,
            "tenant {t}: one sync.completed per history entry"
        );
    }
}

/// A client that gives up on a big idempotent bulk call (its connection closed mid-way, at
/// several points) costs nothing: the server keeps taking writes at once, and the same call
/// retried with its key is answered whole — replayed once the first run has stored its answer,
/// never refused as in progress for minutes nor failing every later write (SQLite once left
/// its one writer connection inside a transaction when such a request was dropped).
async fn a_client_that_goes_away_loses_nothing(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let notes = "n".repeat(8000);
    let bulk = |round: u64| {
        let cells: Vec<Value> = (0..1000)
            .map(|i| {
                json!({"external_id": format!("C-{round}-{i}"), "external_source": "SAP",
                "name": format!("cell {round} {i}"), "notes": notes})
            })
            .collect();
        serde_json::to_vec(&json!({"cells": cells})).unwrap()
    };
    let impatient = reqwest::Client::new();
    let delays = [2, 5, 10, 20, 30, 40, 60, 80, 120, 160];
    for (round, delay) in delays.iter().enumerate() {
        let sent = impatient
            .post(format!("{}/api-cells/bulk-sync", server.base))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .header("idempotency-key", format!("K-{round}"))
            .timeout(std::time::Duration::from_millis(*delay))
            .body(bulk(round as u64))
            .send()
            .await;
        drop(sent);
        let single =
            json!({"external_id": format!("S-{round}"), "external_source": "SAP", "name": "s"});
        server
            .put("/api-cells/sync", &key, &single)
            .await
            .expect(201);
    }
    for round in 0..delays.len() {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let answer = loop {
            let answer = server
                .send(
                    reqwest::Method::POST,
                    "/api-cells/bulk-sync",
                    Some(&key),
                    Some(bulk(round as u64)),
                    Some("application/json"),
                )
                .await;
            // The first run may still be going: its retry waits for it, as a client would.
            if answer.status != 409 || std::time::Instant::now() > deadline {
                break answer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let answer = answer.expect(200);
        assert_eq!(answer.data()["total"], 1000, "round {round}");
        assert_eq!(answer.data()["errors"], 0, "round {round}");
    }
    let cells = server.get("/api-cells?limit=1", &key).await.expect(200);
    assert_eq!(cells.data()["pagination"]["total"], delays.len() * 1001);
}

on_every_engine!(
    concurrent_upserts_of_one_new_record_create_it_once,
    overlapping_batches_in_opposite_orders_all_go_through,
    data_survives_a_restart,
    concurrent_syncs_of_two_tenants_log_each_its_own_events,
    a_client_that_goes_away_loses_nothing,
);
