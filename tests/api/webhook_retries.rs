//! Webhook retries: a failed delivery is sent again with the same id, retries run out and
//! honour `Retry-After`, and an endpoint answering 410 is disabled.

use std::time::Duration;

use serde_json::{json, Value};

use eryxon::domain::api_key::{IssuedKey, KeyScopes, TenantSlug};
use eryxon::domain::webhook::Settings;
use eryxon::domain::{Mode, Scope};
use eryxon::store::deliveries::claim;
use eryxon::store::delivery_log::send_test;
use eryxon::store::webhooks;

use crate::common::{fresh_postgres_database, Engine};
use crate::floor::routing;
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;
use crate::webhooks::{deliveries, quick_server, register, start, PATIENCE};

async fn failures_are_retried_with_the_same_id(engine: Engine) {
    let server = quick_server(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    receiver.answer_next(2, 500, None);
    let endpoint = register(&server, &key, &receiver.url, json!(["operation.started"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let (o1, _) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;

    let seen = receiver.wait_for(3, PATIENCE).await;
    assert!(seen.iter().all(|s| s.webhook_id() == seen[0].webhook_id()));
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(850),
        "waited before retrying"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged = deliveries(&server, &key, id).await;
    let started: Vec<&Value> = logged
        .iter()
        .filter(|d| d["event_type"] == "operation.started")
        .collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["status"], "delivered");
    assert_eq!(started[0]["attempts"], 3);
    let statuses: Vec<&Value> = started[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["http_status"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    // Eryxon's log route answers the same.
    let logs = server
        .get(
            &format!("/api-webhook-logs?webhook_id={id}&status=delivered"),
            &key,
        )
        .await
        .expect(200);
    assert_eq!(
        logs.data()["deliveries"].as_array().unwrap().len(),
        logged.len()
    );
    server
        .get("/api-webhook-logs?status=lost", &key)
        .await
        .expect(400);
}

async fn retries_run_out_and_honour_retry_after(engine: Engine) {
    let server = quick_server(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    // 429 asking for 2 s, then failures past the schedule's three retries.
    receiver.answer_next(1, 429, Some(2));
    receiver.answer_next(3, 503, None);
    let endpoint = register(&server, &key, &receiver.url, json!(["operation.started"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let (o1, _) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;
    let seen = receiver.wait_for(4, PATIENCE).await;
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(1900),
        "Retry-After honoured"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.seen().len(), 4, "1 attempt and 3 retries");
    let logged = deliveries(&server, &key, id).await;
    assert_eq!(logged[0]["status"], "failed");
    assert_eq!(logged[0]["attempts"], 4);

    // By hand: one more attempt now, which the receiver takes.
    let delivery = logged[0]["id"].as_str().unwrap();
    let queued = server
        .send(
            reqwest::Method::POST,
            &format!("/api-webhooks/{id}/deliveries/{delivery}/retry"),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(202);
    assert_eq!(queued.body["data"]["delivery_id"], delivery);
    assert_eq!(queued.body["data"]["event_id"], logged[0]["event_id"]);
    let seen = receiver.wait_for(5, PATIENCE).await;
    assert_eq!(seen[4].webhook_id(), seen[0].webhook_id());
    assert_eq!(
        seen[4].webhook_id(),
        logged[0]["event_id"].as_str().unwrap()
    );
}

async fn gone_disables_the_endpoint(engine: Engine) {
    let server = quick_server(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    receiver.answer_next(1, 410, None);
    let endpoint = register(&server, &key, &receiver.url, json!(["operation.started"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let (o1, o2) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;
    receiver.wait_for(1, PATIENCE).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let now = server
            .get(&format!("/api-webhooks/{id}"), &key)
            .await
            .expect(200);
        if now.data()["active"] == false {
            assert!(now.data()["disabled_reason"]
                .as_str()
                .unwrap()
                .contains("410"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not disabled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let feed = server
        .get("/api-events?types=webhook.endpoint_disabled", &key)
        .await
        .expect(200);
    let event = &feed.data()["events"][0];
    assert_eq!(event["data"]["webhook_id"], id);
    // Nothing more is sent to it.
    start(&server, &key, "start", &o2).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.seen().len(), 1);
}

/// One endpoint's backlog does not hold up another endpoint's delivery: each endpoint's due
/// deliveries are claimed on their own, up to its room. (Claimed from every endpoint's
/// together, oldest first, the backlog filled every candidate slot, the candidates beyond the
/// busy endpoint's room were dropped, and an endpoint behind it waited minutes.) Run on a
/// store of its own, so no worker claims beside the test.
async fn a_backlog_of_one_endpoint_does_not_hold_up_the_others(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let url = match engine {
        Engine::Sqlite => format!("sqlite://{}", dir.path().join("claim.db").display()),
        Engine::Postgres => fresh_postgres_database().await,
    };
    let store = eryxon::store::open(&url).await.unwrap();
    let key = IssuedKey::generate(Mode::Live);
    let tenant = TenantSlug::parse("acme").unwrap();
    store
        .create_api_key(&tenant, None, &key, KeyScopes::ALL)
        .await
        .unwrap();
    let stored = store.find_api_key(&key.secret[9..21]).await.unwrap();
    let scope = Scope {
        tenant_id: stored.unwrap().tenant_id,
        mode: Mode::Live,
    };
    let endpoint = |url: &str| Settings {
        url: url.to_owned(),
        events: "job.*".to_owned(),
        active: true,
        description: None,
    };
    let create = |url| {
        let (store, settings) = (&store, endpoint(url));
        async move {
            webhooks::create(&**store, scope, &settings)
                .await
                .unwrap()
                .id
        }
    };
    let (busy, other) = (
        create("https://a.example/").await,
        create("https://b.example/").await,
    );
    for _ in 0..20 {
        send_test(&*store, scope, busy).await.unwrap().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    send_test(&*store, scope, other).await.unwrap().unwrap();

    let claimed = claim(&*store, 9, 8, Duration::from_secs(60)).await.unwrap();
    let to = |endpoint| claimed.iter().filter(|c| c.endpoint_id == endpoint).count();
    assert_eq!((to(busy), to(other)), (8, 1));
}

on_every_engine!(
    a_backlog_of_one_endpoint_does_not_hold_up_the_others,
    failures_are_retried_with_the_same_id,
    retries_run_out_and_honour_retry_after,
    gone_disables_the_endpoint,
);
