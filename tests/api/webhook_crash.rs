//! At least once across crashes: an `eryxon serve` process killed with SIGKILL while a
//! delivery is in flight sends it again after a restart, with the same `webhook-id`; a stop
//! that is not a crash lets the send finish instead.

use std::time::Duration;

use serde_json::json;

use crate::common::{fresh_postgres_database, Engine};
use crate::deploy::{create_key, Instance};
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;

async fn a_killed_server_delivers_after_restart(engine: Engine) {
    let dir = tempfile::TempDir::new().unwrap();
    let url = match engine {
        Engine::Sqlite => format!("sqlite://{}", dir.path().join("crash.db").display()),
        Engine::Postgres => fresh_postgres_database().await,
    };
    let key = create_key(&url);
    let receiver = Receiver::start().await;
    // The first attempt hangs until the server is killed.
    receiver.slow(Duration::from_secs(60));
    let first = Instance::spawn(&url, 1_000_000).await;
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api-webhooks", first.base))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url, "events": ["job.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let webhook = created.json::<serde_json::Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let job = json!({"external_id": "J1", "external_source": "SAP", "job_number": "SO-1"});
    assert_eq!(first.put("/api-jobs/sync", &key, &job).await.status(), 201);
    let in_flight = receiver.wait_for(1, Duration::from_secs(10)).await;
    first.stop().await; // SIGKILL, mid-delivery

    receiver.slow(Duration::ZERO);
    let second = Instance::spawn(&url, 1_000_000).await;
    // Sent again once the dead process's 30 s lease has run out.
    let seen = receiver.wait_for(2, Duration::from_secs(60)).await;
    assert_eq!(seen[1].webhook_id(), in_flight[0].webhook_id());
    assert_eq!(seen[1].json()["external_id"], "J1");
    // The log shows both sends: the one cut off, counted, then the one answered.
    let mut logged = serde_json::Value::Null;
    for _ in 0..50 {
        let answer = second
            .get(&format!("/api-webhooks/{webhook}/deliveries"), &key)
            .await;
        logged = answer.json::<serde_json::Value>().await.unwrap()["data"]["deliveries"][0].clone();
        if logged["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged["status"], "delivered", "{logged}");
    assert_eq!(logged["attempts"], 2, "{logged}");
    let log = logged["attempt_log"].as_array().unwrap();
    assert_eq!(log[0]["http_status"], serde_json::Value::Null, "{logged}");
    assert!(
        log[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("cut off: how this send went was never recorded"),
        "{logged}"
    );
    assert_eq!(log[1]["http_status"], 200, "{logged}");
    assert!(log[0]["at"].as_str() < log[1]["at"].as_str(), "{logged}");
    second.stop().await;
}

/// Two `eryxon serve` processes on one database share the deliveries: every event reaches the
/// endpoint once in a run without faults.
async fn two_instances_deliver_each_event_once(engine: Engine) {
    let dir = tempfile::TempDir::new().unwrap();
    let url = match engine {
        Engine::Sqlite => format!("sqlite://{}", dir.path().join("two.db").display()),
        Engine::Postgres => fresh_postgres_database().await,
    };
    let key = create_key(&url);
    let receiver = Receiver::start().await;
    let one = Instance::spawn(&url, 1_000_000).await;
    let two = Instance::spawn(&url, 1_000_000).await;
    let created = reqwest::Client::new()
        .post(format!("{}/api-webhooks", one.base))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url, "events": ["job.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    for batch in 0..4 {
        let instance = if batch % 2 == 0 { &one } else { &two };
        let jobs: Vec<_> = (0..25)
            .map(|n| {
                json!({"external_id": format!("J{batch}-{n}"), "external_source": "SAP",
                "job_number": format!("SO-{batch}-{n}")})
            })
            .collect();
        let sent = reqwest::Client::new()
            .post(format!("{}/api-jobs/bulk-sync", instance.base))
            .bearer_auth(&key)
            .json(&json!({"jobs": jobs}))
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
    }
    receiver.wait_for(100, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = receiver.seen();
    let ids: std::collections::BTreeSet<String> = seen.iter().map(|s| s.webhook_id()).collect();
    assert_eq!(ids.len(), 100);
    assert_eq!(seen.len(), 100, "no event twice");
    one.stop().await;
    two.stop().await;
}

/// A stop (SIGTERM, or the end of `serve`'s shutdown future) lets the webhook sends in flight
/// finish and records them: their receivers had them already, and a send cut off was sent
/// again by the next server 30 s later, a duplicate.
async fn a_stop_lets_the_sends_in_flight_finish(engine: Engine) {
    let mut server = crate::common::TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    receiver.slow(Duration::from_millis(1500));
    let endpoint = crate::webhooks::register(&server, &key, &receiver.url, json!(["job.*"])).await;
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1"});
    server.put("/api-jobs/sync", &key, &job).await.expect(201);
    receiver.wait_for(1, crate::webhooks::PATIENCE).await;

    server.stop().await;
    let stored = server
        .store
        .find_api_key(&key[9..21])
        .await
        .unwrap()
        .unwrap();
    let scope = eryxon::domain::Scope {
        tenant_id: stored.tenant_id,
        mode: eryxon::domain::Mode::Live,
    };
    let query = eryxon::store::delivery_log::DeliveryQuery {
        webhook_id: Some(endpoint["id"].as_str().unwrap().parse().unwrap()),
        limit: 10,
        ..Default::default()
    };
    let logged = eryxon::store::delivery_log::list(&*server.store, scope, &query)
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].status, "delivered", "{:?}", logged[0]);
    assert_eq!(receiver.seen().len(), 1);
}

on_every_engine!(
    a_stop_lets_the_sends_in_flight_finish,
    a_killed_server_delivers_after_restart,
    two_instances_deliver_each_event_once,
);
