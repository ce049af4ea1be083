//! At least once across crashes: an `eryxon serve` process killed with SIGKILL while a
//! delivery is in flight sends it again after a restart, with the same `webhook-id`.

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

on_every_engine!(
    a_killed_server_delivers_after_restart,
    two_instances_deliver_each_event_once,
);
