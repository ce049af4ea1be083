//! Past the retention, the server lets go of what is past use — events, deliveries that are
//! finished with, sync history, and `Idempotency-Key` answers after their day — so that years of running hold weeks of them; a delivery still
//! to be sent stays, and is sent once its endpoint is back on.

use std::time::{Duration, Instant};

use eryxon::store::retention::{self, Pruned};
use reqwest::Method;
use serde_json::json;
use sqlx::Connection;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;
use crate::webhooks::{deliveries, register, PATIENCE};

/// Prunes as the hourly round would once everything made so far is past the retention.
pub(crate) async fn prune_all(server: &TestServer) -> Pruned {
    let past_everything = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let before = eryxon::store::timestamp_of(past_everything);
    retention::prune(&*server.store, &before).await.unwrap()
}

async fn past_the_retention_the_log_finished_deliveries_and_history_go(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (up, down) = (Receiver::start().await, Receiver::start().await);
    // The second receiver is down for a while: its delivery waits for a retry 3 s on.
    down.answer_next(1, 503, Some(3));
    let sent = register(&server, &key, &up.url, json!(["job.*"])).await;
    let sent = sent["id"].as_str().unwrap().to_owned();
    let waiting = register(&server, &key, &down.url, json!(["job.*"])).await;
    let waiting = waiting["id"].as_str().unwrap().to_owned();
    let job = json!({"external_id": "J1", "external_source": "SAP", "job_number": "SO-1"});
    server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": [job]}))
        .await
        .expect(200);
    up.wait_for(1, PATIENCE).await;
    down.wait_for(1, PATIENCE).await;
    let deadline = Instant::now() + PATIENCE;
    while deliveries(&server, &key, &sent).await[0]["status"] != "delivered"
        || deliveries(&server, &key, &waiting).await[0]["attempts"] != 1
    {
        assert!(Instant::now() < deadline, "both first attempts are logged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let pruned = prune_all(&server).await;
    let expected = Pruned {
        events: 2, // job.created and sync.completed
        deliveries: 1,
        history: 1,
        idempotency_keys: 0,
    };
    assert_eq!(pruned, expected);
    assert!(deliveries(&server, &key, &sent).await.is_empty());
    let history = server.get("/api-sync/imports", &key).await.expect(200);
    assert_eq!(history.data()["imports"], json!([]));
    let pending = deliveries(&server, &key, &waiting).await;
    assert_eq!(pending.len(), 1, "a delivery still to be sent stays");
    assert_eq!(pending[0]["status"], "pending");

    let seen = down.wait_for(2, PATIENCE).await;
    assert_eq!(
        seen[1].json()["type"],
        "job.created",
        "the retry is sent as ever"
    );
    assert_eq!(seen[1].webhook_id(), seen[0].webhook_id());
    assert_eq!(
        prune_all(&server).await.events,
        0,
        "nothing is pruned twice"
    );
}

/// An `Idempotency-Key` is remembered for a day, then forgotten: its stored answer (a whole
/// bulk call's) goes, and the key runs a request anew.
async fn an_idempotency_key_is_forgotten_after_its_day(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = json!({"external_id": "C1", "external_source": "SAP", "name": "Laser"});
    let put = |body| {
        server.idempotent(
            Method::PUT,
            "/api-cells/sync",
            &key,
            "nightly-1",
            Some(body),
        )
    };
    put(&cell).await.expect(201);
    let renamed = json!({"external_id": "C1", "external_source": "SAP", "name": "Laser 2"});
    let replayed = put(&renamed).await.expect(422);
    assert_eq!(
        replayed.error_code(),
        "IDEMPOTENCY_KEY_REUSED",
        "within its day"
    );
    assert_eq!(
        prune_all(&server).await.idempotency_keys,
        0,
        "not yet a day old"
    );

    server
        .write_behind_the_server(
            "UPDATE idempotency_keys SET created_at = '2000-01-01T00:00:00.000Z'",
        )
        .await;
    assert_eq!(prune_all(&server).await.idempotency_keys, 1);
    put(&renamed).await.expect(200);
    assert_eq!(server.all("cells", &key).await[0]["name"], "Laser 2");
}

/// A backlog larger than one prune transaction (5 000 rows) goes whole in one round: the
/// batches follow one another until one deletes fewer, every event is counted once, a cursor
/// into the backlog is told it expired, and the feed goes on from the events made after.
async fn a_backlog_larger_than_a_batch_is_pruned_whole(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let mut cursor = None;
    for call in 0..6 {
        let jobs: Vec<_> = (0..1000)
            .map(|n| {
                let id = format!("J{call}-{n}");
                json!({"external_id": id, "external_source": "SAP", "job_number": id})
            })
            .collect();
        let reply = server
            .post("/api-jobs/bulk-sync", &key, &json!({"jobs": jobs}))
            .await
            .expect(200);
        assert_eq!(reply.data()["created"], 1000);
        if cursor.is_none() {
            let page = server.get("/api-events?limit=10", &key).await.expect(200);
            cursor = Some(page.data()["next_cursor"].as_str().unwrap().to_owned());
        }
    }

    let pruned = prune_all(&server).await;
    assert_eq!(
        pruned.events,
        6 * 1001,
        "6 000 job.created and 6 sync.completed"
    );
    assert_eq!(pruned.history, 6);
    let expired = format!("/api-events?after={}", cursor.unwrap());
    let expired = server.get(&expired, &key).await.expect(410);
    assert_eq!(expired.error_code(), "CURSOR_EXPIRED");

    let job = json!({"external_id": "after", "external_source": "SAP", "job_number": "after"});
    server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": [job]}))
        .await
        .expect(200);
    let feed = server.get("/api-events", &key).await.expect(200);
    let types: Vec<_> = feed.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["job.created", "sync.completed"]);
}

/// An endpoint switched off past the retention loses the events pruned meanwhile; switched
/// back on, it is sent what is left, and the log says which positions it lost, whether or not
/// newer events follow them (the warning came only when none did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pruned_while_an_endpoint_is_off_are_logged() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    let key = crate::deploy::create_key(&url);
    let receiver = Receiver::start().await;
    let client = reqwest::Client::new();
    let send = |base: &str, method: Method, path: &str, body: serde_json::Value| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let cell =
        |n: u32| json!({"external_id": format!("C{n}"), "external_source": "SAP", "name": "x"});
    let server = crate::deploy::Instance::spawn(&url, 1000).await;
    let body = json!({"url": receiver.url, "events": ["cell.*"]});
    let created = send(&server.base, Method::POST, "/api-webhooks", body)
        .await
        .unwrap();
    let created: serde_json::Value = created.json().await.unwrap();
    let endpoint = format!("/api-webhooks/{}", created["data"]["id"].as_str().unwrap());
    server.put("/api-cells/sync", &key, &cell(1)).await;
    receiver.wait_for(1, PATIENCE).await;
    let off = send(
        &server.base,
        Method::PATCH,
        &endpoint,
        json!({"active": false}),
    );
    assert_eq!(off.await.unwrap().status(), 200);
    for n in 2..=5 {
        server.put("/api-cells/sync", &key, &cell(n)).await;
    }
    server.stop().await;

    // C2's and C3's events (positions 3 and 5; each call also wrote its sync.completed) are
    // past the retention: the server's start prunes them.
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(
        "UPDATE events SET occurred_at = '2000-01-01T00:00:00.000Z' \
         WHERE external_id IN ('C2', 'C3')",
    )
    .execute(&mut db)
    .await
    .unwrap();
    db.close().await.unwrap();
    let server = crate::deploy::Instance::spawn(&url, 1000).await;
    let on = send(
        &server.base,
        Method::PATCH,
        &endpoint,
        json!({"active": true}),
    );
    assert_eq!(on.await.unwrap().status(), 200);
    let seen = receiver.wait_for(3, PATIENCE).await;
    // Different records' deliveries may arrive in any order.
    let mut sent: Vec<_> = seen
        .iter()
        .map(|d| d.json()["data"]["external_id"].as_str().unwrap().to_owned())
        .collect();
    sent.sort();
    assert_eq!(sent, ["C1", "C4", "C5"]);
    let logs = server.logs.lock().unwrap().join("\n");
    let warning = logs
        .lines()
        .find(|line| line.contains("were pruned"))
        .unwrap_or_else(|| panic!("no warning in\n{logs}"));
    assert!(
        warning.contains("from=3") && warning.contains("through=5"),
        "{warning}"
    );
    server.stop().await;
}

on_every_engine!(
    a_backlog_larger_than_a_batch_is_pruned_whole,
    past_the_retention_the_log_finished_deliveries_and_history_go,
    an_idempotency_key_is_forgotten_after_its_day,
);
