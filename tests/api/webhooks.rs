//! Webhooks end to end: endpoints managed over the API, events delivered by the server's worker
//! to real receivers, signed, in order per record, and a slow receiver not delaying another.
//! Retries and disabling on 410 are in `webhook_retries.rs`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{Engine, Options, TestServer};
use crate::floor::routing;
use crate::on_every_engine;
use crate::webhook_receiver::{verify_eryxon, verify_standard, Receiver};

pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// A server retrying after about a second, so retries fit in a test.
pub(crate) async fn quick_server(engine: Engine) -> TestServer {
    let options = Options {
        webhook_retry_schedule: eryxon::domain::webhook::RetrySchedule::parse("1s,1s,1s").unwrap(),
        ..Options::default()
    };
    TestServer::start_with(engine, options).await
}

/// Registers `url` for `events`; answers the endpoint with its secret.
pub(crate) async fn register(server: &TestServer, key: &str, url: &str, events: Value) -> Value {
    server
        .post("/api-webhooks", key, &json!({"url": url, "events": events}))
        .await
        .expect(201)
        .data()
        .clone()
}

pub(crate) async fn start(server: &TestServer, key: &str, action: &str, operation: &str) {
    server
        .send(
            reqwest::Method::POST,
            &format!("/api-operation-lifecycle/{action}?id={operation}"),
            Some(key),
            None,
            None,
        )
        .await
        .expect(200);
}

pub(crate) async fn deliveries(server: &TestServer, key: &str, webhook: &str) -> Vec<Value> {
    server
        .get(&format!("/api-webhooks/{webhook}/deliveries"), key)
        .await
        .expect(200)
        .data()["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn endpoints_are_managed(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let created = register(
        &server,
        &key,
        "https://erp.example/hooks",
        json!(["job.*", "operation.completed"]),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["active"], true);
    assert_eq!(created["events"], json!(["job.*", "operation.completed"]));

    // The secret is never shown again.
    let listed = server.get("/api-webhooks", &key).await.expect(200);
    assert_eq!(listed.data()["total"], 1);
    assert!(listed.data()["webhooks"][0].get("secret").is_none());
    let by_path = server
        .get(&format!("/api-webhooks/{id}"), &key)
        .await
        .expect(200);
    assert!(by_path.data().get("secret").is_none());
    let by_query = server
        .get(&format!("/api-webhooks?id={id}"), &key)
        .await
        .expect(200);
    assert_eq!(by_query.data()["id"], id.as_str());

    // Eryxon's single `event_type`, and the list's filters.
    server
        .post("/api-webhooks", &key, &json!({"url": "http://erp.example/b", "event_type": "operation.started", "active": false}))
        .await
        .expect(201);
    let filtered = server
        .get("/api-webhooks?event_type=job.completed", &key)
        .await
        .expect(200);
    assert_eq!(filtered.data()["total"], 1);
    // A family lists every endpoint that receives some of it (it matched `job.*` literally).
    let family = server
        .get("/api-webhooks?event_type=operation.*", &key)
        .await
        .expect(200);
    assert_eq!(family.data()["total"], 2, "{}", family.body);
    let inactive = server
        .get("/api-webhooks?active=false", &key)
        .await
        .expect(200);
    assert_eq!(
        inactive.data()["webhooks"][0]["events"],
        json!(["operation.started"])
    );

    let patched = server
        .json(
            reqwest::Method::PATCH,
            &format!("/api-webhooks?id={id}"),
            &key,
            &json!({"active": false, "events": ["part.*"], "description": "ERP"}),
        )
        .await
        .expect(200);
    assert_eq!(patched.data()["active"], false);
    assert_eq!(patched.data()["events"], json!(["part.*"]));
    assert_eq!(patched.data()["description"], "ERP");

    // Precise refusals.
    let unknown = server
        .post(
            "/api-webhooks",
            &key,
            &json!({"url": "https://erp.example/", "events": ["job.finished"]}),
        )
        .await
        .expect(400);
    assert_eq!(unknown.error_code(), "VALIDATION_ERROR");
    assert!(
        unknown.body.to_string().contains("events"),
        "{:#}",
        unknown.body
    );
    for url in ["ftp://erp.example/", "erp.example/hook", "http://"] {
        let bad = server
            .post(
                "/api-webhooks",
                &key,
                &json!({"url": url, "events": ["job.*"]}),
            )
            .await
            .expect(400);
        assert!(bad.body.to_string().contains("url"), "{:#}", bad.body);
    }
    server
        .get("/api-webhooks/not-a-uuid", &key)
        .await
        .expect(400);
    let other = server.key("other").await;
    server
        .get(&format!("/api-webhooks/{id}"), &other)
        .await
        .expect(404);
    let reads_only = server.key_with_scopes("acme", "read").await;
    server.get("/api-webhooks", &reads_only).await.expect(403);
    server
        .get("/api-webhook-logs", &reads_only)
        .await
        .expect(403);

    server
        .delete(&format!("/api-webhooks/{id}"), &key)
        .await
        .expect(200);
    server
        .get(&format!("/api-webhooks/{id}"), &key)
        .await
        .expect(404);
}

async fn an_operation_start_is_delivered_signed(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&server, &key, &receiver.url, json!(["operation.started"])).await;
    let secret = endpoint["secret"].as_str().unwrap();
    let (o1, _) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;

    let seen = receiver.wait_for(1, PATIENCE).await;
    let request = &seen[0];
    assert!(verify_standard(secret, request), "{:?}", request.headers);
    assert!(verify_eryxon(secret, request), "{:?}", request.headers);
    assert_eq!(request.header("x-eryxon-event"), "operation.started");
    let body = request.json();
    assert_eq!(body["type"], "operation.started");
    assert_eq!(body["event_type"], "operation.started");
    assert_eq!(
        body["event"], "operation.started",
        "as Eryxon's implementation sends it"
    );
    assert_eq!(body["id"], request.webhook_id());
    // The tenant and mode, so a receiver serving several tells them apart.
    let tenant = body["tenant_id"].as_str().expect("tenant_id");
    assert!(uuid::Uuid::parse_str(tenant).is_ok(), "{tenant}");
    assert_eq!(body["mode"], "live");
    assert_eq!(body["record_id"], o1.as_str());
    assert_eq!(body["external_id"], "O1");
    assert_eq!(body["data"]["status"], "in_progress");
    // The id is the event's, as the feed shows it.
    let feed = server
        .get("/api-events?types=operation.started", &key)
        .await
        .expect(200);
    assert_eq!(feed.data()["events"][0]["id"], body["id"]);

    // Only what the endpoint subscribed to; nothing twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.seen().len(), 1);
    let logged = deliveries(&server, &key, endpoint["id"].as_str().unwrap()).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["status"], "delivered");
    assert_eq!(logged[0]["attempt_log"][0]["http_status"], 200);
}

async fn rotation_signs_with_both_secrets(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let events = json!(["operation.started", "operation.paused"]);
    let endpoint = register(&server, &key, &receiver.url, events).await;
    let id = endpoint["id"].as_str().unwrap();
    let old = endpoint["secret"].as_str().unwrap();
    let rotated = server
        .send(
            reqwest::Method::POST,
            &format!("/api-webhooks/{id}/rotate-secret"),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(200);
    let new = rotated.data()["secret"].as_str().unwrap();
    assert_ne!(old, new);
    let (o1, _) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;
    let seen = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(seen[0].header("webhook-signature").split(' ').count(), 2);
    assert!(verify_standard(new, &seen[0]) && verify_standard(old, &seen[0]));
    // Eryxon's header holds one signature: the old secret's until the overlap ends, so a
    // receiver checking only it keeps working unchanged through the rotation.
    assert!(verify_eryxon(old, &seen[0]) && !verify_eryxon(new, &seen[0]));

    // A second rotation within the overlap drops the first secret at once.
    let newer = server
        .send(
            reqwest::Method::POST,
            &format!("/api-webhooks/{id}/rotate-secret"),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(200)
        .data()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    start(&server, &key, "pause", &o1).await;
    let seen = receiver.wait_for(2, PATIENCE).await;
    assert!(verify_standard(&newer, &seen[1]) && verify_standard(new, &seen[1]));
    assert!(!verify_standard(old, &seen[1]) && !verify_eryxon(old, &seen[1]));
    assert!(verify_eryxon(new, &seen[1]));
}

async fn a_slow_endpoint_does_not_delay_another(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let slow = Receiver::start().await;
    slow.slow(Duration::from_secs(3));
    let fast = Receiver::start().await;
    register(&server, &key, &slow.url, json!(["job.created"])).await;
    register(&server, &key, &fast.url, json!(["job.created"])).await;
    let jobs: Vec<Value> = (0..12)
        .map(|n| json!({"external_id": format!("J{n}"), "external_source": "SAP", "job_number": format!("SO-{n}")}))
        .collect();
    let sent = std::time::Instant::now();
    server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": jobs}))
        .await
        .expect(200);
    fast.wait_for(12, Duration::from_secs(2)).await;
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    assert!(
        slow.seen().len() <= 8,
        "the slow one is sent a few at a time"
    );
    slow.wait_for(12, PATIENCE).await;
}

async fn a_records_events_arrive_in_order(engine: Engine) {
    let server = quick_server(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    receiver.answer_next(1, 500, None);
    register(
        &server,
        &key,
        &receiver.url,
        json!(["operation.started", "operation.paused", "operation.resumed"]),
    )
    .await;
    let (o1, _) = routing(&server, &key).await;
    for action in ["start", "pause", "resume"] {
        start(&server, &key, action, &o1).await;
    }
    let seen = receiver.wait_for(4, PATIENCE).await;
    let types: Vec<String> = seen
        .iter()
        .map(|s| s.json()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "operation.started",
            "operation.started",
            "operation.paused",
            "operation.resumed"
        ]
    );
}

async fn tests_and_replays_are_sent(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&server, &key, &receiver.url, json!(["operation.started"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let secret = endpoint["secret"].as_str().unwrap();
    server
        .send(
            reqwest::Method::POST,
            &format!("/api-webhooks/{id}/test"),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(202);
    let seen = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(seen[0].json()["type"], "webhook.test");
    assert!(verify_standard(secret, &seen[0]));

    let (o1, _) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;
    let seen = receiver.wait_for(2, PATIENCE).await;
    let since = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let replayed = server
        .post(
            &format!("/api-webhooks/{id}/replay"),
            &key,
            &json!({"since": since}),
        )
        .await
        .expect(202);
    assert_eq!(replayed.data()["queued"], 1);
    let again = receiver.wait_for(3, PATIENCE).await;
    assert_eq!(
        again[2].webhook_id(),
        seen[1].webhook_id(),
        "a replay keeps the event's id"
    );
    server
        .post(
            &format!("/api-webhooks/{id}/replay"),
            &key,
            &json!({"since": "yesterday"}),
        )
        .await
        .expect(400);
}

/// The delivery log lists the tenant's deliveries of every endpoint and status newest first,
/// and pages through them with `offset` and `limit` in that order.
async fn deliveries_are_listed_newest_first_across_endpoints(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    // One answers 500 twice, so its deliveries stay pending beside the other's delivered ones.
    receiver.answer_next(2, 500, None);
    let a = register(&server, &key, &receiver.url, json!(["cell.*"])).await;
    let b = register(
        &server,
        &key,
        &format!("{}/b", receiver.url),
        json!(["cell.*"]),
    )
    .await;
    for n in 0..3 {
        let cell = json!({"external_id": format!("C{n}"), "external_source": "SAP", "name": format!("C{n}")});
        server.put("/api-cells/sync", &key, &cell).await.expect(201);
    }
    receiver.wait_for(6, PATIENCE).await;
    let all = server.get("/api-webhook-logs", &key).await.expect(200);
    let all = all.data()["deliveries"].as_array().unwrap().clone();
    assert_eq!(all.len(), 6, "{all:#?}");
    let ids: Vec<&str> = all.iter().map(|d| d["id"].as_str().unwrap()).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(ids, newest_first);
    for endpoint in [&a, &b] {
        let id = endpoint["id"].as_str().unwrap();
        assert_eq!(all.iter().filter(|d| d["webhook_id"] == id).count(), 3);
    }
    let page = server
        .get("/api-webhook-logs?limit=2&offset=3", &key)
        .await
        .expect(200);
    let page: Vec<&str> = page.data()["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|id| ids.iter().find(|i| **i == id).copied().unwrap())
        .collect();
    assert_eq!(page, ids[3..5]);
}

on_every_engine!(
    deliveries_are_listed_newest_first_across_endpoints,
    endpoints_are_managed,
    an_operation_start_is_delivered_signed,
    rotation_signs_with_both_secrets,
    a_slow_endpoint_does_not_delay_another,
    a_records_events_arrive_in_order,
    tests_and_replays_are_sent,
);
