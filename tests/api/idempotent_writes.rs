//! `Idempotency-Key` on every write, not only syncs: a floor terminal or an ERP that lost an
//! answer retries with the same key and gets the first answer back, the change made once.
//! (The syncs' own cases are in `history.rs`.)

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::floor::routing;
use crate::on_every_engine;

/// Without its key a retried `complete` would be refused (`completed` allows no action),
/// and the terminal could not tell its own completion from somebody else's.
async fn a_floor_action_retried_with_its_key_is_answered_once(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let start = format!("/api-operation-lifecycle/start?id={o1}");
    let body = json!({"operator": "ana"});
    let act = |path: String, idem: &'static str| {
        let (server, key, body) = (&server, &key, &body);
        async move {
            server
                .idempotent(Method::POST, &path, key, idem, Some(body))
                .await
        }
    };

    let first = act(start.clone(), "tablet-7-1").await.expect(200);
    assert!(first.header("idempotent-replayed").is_none());
    let again = act(start.clone(), "tablet-7-1").await.expect(200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "the first answer, word for word");
    let started = server
        .get("/api-events?types=operation.started", &key)
        .await
        .expect(200);
    assert_eq!(started.data()["events"].as_array().unwrap().len(), 1);

    // The same key on another action is another request.
    let complete = format!("/api-operation-lifecycle/complete?id={o1}");
    let reused = act(complete.clone(), "tablet-7-1").await.expect(422);
    assert_eq!(reused.error_code(), "IDEMPOTENCY_KEY_REUSED");
    // A retry without a key runs again, and is refused as the transition it is.
    let done = act(complete.clone(), "tablet-7-2").await.expect(200);
    assert_eq!(done.data()["new_status"], "completed");
    let bare = server.post(&complete, &key, &body).await.expect(400);
    assert_eq!(bare.error_code(), "INVALID_STATE_TRANSITION");
    let replayed = act(complete, "tablet-7-2").await.expect(200);
    assert_eq!(replayed.body, done.body);
}

/// A quantity report, a delete and a webhook endpoint's creation, each retried with its key:
/// one report counted, one deletion, one endpoint (two would deliver every event twice; the
/// replay shows the secret the lost answer carried).
async fn other_writes_retried_with_their_key_happen_once(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    let twice = |method: Method, path: String, idem: &'static str, body: Option<Value>| {
        let (server, key) = (&server, &key);
        async move {
            let first = server
                .idempotent(method.clone(), &path, key, idem, body.as_ref())
                .await;
            let again = server
                .idempotent(method, &path, key, idem, body.as_ref())
                .await;
            assert_eq!(again.status, first.status, "{:#}", again.body);
            assert_eq!(again.header("idempotent-replayed"), Some("true"));
            assert_eq!(again.body, first.body);
            first
        }
    };

    let report = json!({"operation_id": o1, "good": 5});
    twice(
        Method::POST,
        "/api-operation-quantities".into(),
        "q-1",
        Some(report),
    )
    .await
    .expect(201);
    let operation = server.get(&format!("/api-operations/{o1}"), &key).await;
    assert_eq!(operation.expect(200).data()["quantity_good"], 5);

    twice(Method::DELETE, format!("/api-operations/{o2}"), "d-1", None)
        .await
        .expect(200);

    let endpoint = json!({"url": "http://erp.example/hook", "events": ["job.*"]});
    twice(Method::POST, "/api-webhooks".into(), "w-1", Some(endpoint))
        .await
        .expect(201);
    let listed = server.get("/api-webhooks", &key).await.expect(200);
    assert_eq!(listed.data()["total"], 1, "one endpoint");
}

/// A read changes nothing, so it keeps no key: the same key then serves a write.
async fn a_read_keeps_no_key(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    for _ in 0..2 {
        let read = server
            .idempotent(Method::GET, "/api-jobs", &key, "shared", None)
            .await
            .expect(200);
        assert!(read.header("idempotent-replayed").is_none());
    }
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Saw"});
    server
        .idempotent(Method::PUT, "/api-cells/sync", &key, "shared", Some(&cell))
        .await
        .expect(201);
}

on_every_engine!(
    a_floor_action_retried_with_its_key_is_answered_once,
    other_writes_retried_with_their_key_happen_once,
    a_read_keeps_no_key,
);

/// Inputs sent twice, or twice in different words, are refused naming them, and nothing is
/// done: two `Idempotency-Key` headers (the first was taken silently, and a retry with the
/// second ran the write again), a query parameter twice (serde's message, no field), and an
/// operator in the query that the body contradicts (the body won silently). Decided before
/// the store is asked: once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_sent_twice_are_refused_naming_them() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let start = format!("{}/api-operation-lifecycle/start?id={o1}", server.base);
    let twice = reqwest::Client::new()
        .post(&start)
        .bearer_auth(&key)
        .header("idempotency-key", "b1")
        .header("idempotency-key", "b2")
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 400);
    let body: Value = twice.json().await.unwrap();
    assert_eq!(
        body["error"]["details"][0]["field"], "Idempotency-Key",
        "{body}"
    );

    let path = format!("/api-operation-lifecycle/start?id={o1}&id={o1}");
    let reply = server.post(&path, &key, &json!({})).await.expect(400);
    assert_eq!(
        reply.body["error"]["details"][0]["field"], "id",
        "{}",
        reply.body
    );
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("more than once"));

    let path = format!("/api-operation-lifecycle/start?id={o1}&user_id=u-1");
    let reply = server
        .post(&path, &key, &json!({"operator": "u-2"}))
        .await
        .expect(400);
    assert_eq!(
        reply.body["error"]["details"][0]["field"], "user_id",
        "{}",
        reply.body
    );
    let agreed = json!({"operator": "u-1"});
    let done = server.post(&path, &key, &agreed).await.expect(200);
    assert_eq!(
        done.data()["previous_status"],
        "not_started",
        "nothing done before"
    );
}

/// A body refused unread for its `Content-Type` keeps no key: the retry with the header fixed
/// runs (it was answered the stale `415` for a day, "send the body as JSON", though it was).
/// Decided before the store writes anything: once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_not_kept_for_a_body_refused_unread() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let cell = r#"{"external_id": "C-Y", "external_source": "SAP", "name": "Y"}"#;
    let send = |content_type: &'static str| {
        reqwest::Client::new()
            .put(format!("{}/api-cells/sync", server.base))
            .bearer_auth(&key)
            .header("idempotency-key", "k-415")
            .header("content-type", content_type)
            .body(cell)
            .send()
    };
    let refused = send("application/x-www-form-urlencoded").await.unwrap();
    assert_eq!(refused.status(), 415);
    let fixed = send("application/json").await.unwrap();
    assert_eq!(fixed.status(), 201);
    assert!(fixed.headers().get("idempotent-replayed").is_none());
    let again = send("application/json").await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}
