//! What the webhook routes refuse, and how: texts and times neither engine can store, `null`
//! in a change, a replay's range that runs backwards, and sending to a switched-off endpoint.

use serde_json::{json, Value};

use crate::common::{Engine, Reply, TestServer};
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;
use crate::webhooks::{deliveries, register, PATIENCE};

fn refused(reply: Reply, field: &str) {
    let reply = reply.expect(400);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR");
    assert_eq!(
        reply.body["error"]["details"][0]["field"], field,
        "{:#}",
        reply.body
    );
}

async fn patch(server: &TestServer, key: &str, id: &str, body: Value) -> Reply {
    server
        .json(
            reqwest::Method::PATCH,
            &format!("/api-webhooks/{id}"),
            key,
            &body,
        )
        .await
}

async fn post_empty(server: &TestServer, key: &str, path: &str) -> Reply {
    server
        .send(reqwest::Method::POST, path, Some(key), None, None)
        .await
}

/// A NUL character and the year 0 are refused as the client's mistake on both engines; on
/// PostgreSQL they were 500s (it stores neither).
async fn nul_texts_and_year_zero_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let nul = json!({"url": receiver.url, "events": ["job.*"], "description": "ERP\u{0}hook"});
    refused(
        server.post("/api-webhooks", &key, &nul).await,
        "description",
    );
    let endpoint = register(&server, &key, &receiver.url, json!(["job.*"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let reply = patch(&server, &key, id, json!({"description": "a\u{0}"})).await;
    refused(reply, "description");

    let year_zero = "0000-01-01T00:00:00Z";
    let replay = format!("/api-webhooks/{id}/replay");
    refused(
        server
            .post(&replay, &key, &json!({"since": year_zero}))
            .await,
        "since",
    );
    let until = json!({"since": "2026-01-01T00:00:00Z", "until": year_zero});
    refused(server.post(&replay, &key, &until).await, "until");
    // The first instant of year 1 written with an offset east of UTC is still year 0 in UTC.
    let east = json!({"since": "0001-01-01T00:00:00+01:00"});
    refused(server.post(&replay, &key, &east).await, "since");
    let jobs = server
        .get(&format!("/api-jobs?updated_since={year_zero}"), &key)
        .await;
    refused(jobs, "updated_since");
    server
        .get("/api-jobs?updated_since=0001-01-01T00:00:00Z", &key)
        .await
        .expect(200);
}

/// `null` clears the description, as everywhere in the API, and is refused for the URL, which
/// an endpoint cannot be without.
async fn null_clears_the_description_and_is_refused_for_the_url(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let created = server
        .post(
            "/api-webhooks",
            &key,
            &json!({"url": receiver.url, "events": ["job.*"], "description": "ERP"}),
        )
        .await
        .expect(201);
    let id = created.data()["id"].as_str().unwrap().to_owned();
    let cleared = patch(&server, &key, &id, json!({"description": null}))
        .await
        .expect(200);
    assert_eq!(cleared.data()["description"], Value::Null);
    let read = server
        .get(&format!("/api-webhooks/{id}"), &key)
        .await
        .expect(200);
    assert_eq!(read.data()["description"], Value::Null);
    assert_eq!(read.data()["url"], receiver.url.as_str());

    refused(patch(&server, &key, &id, json!({"url": null})).await, "url");
    refused(
        patch(&server, &key, &id, json!({"events": null})).await,
        "events",
    );
    let read = server
        .get(&format!("/api-webhooks/{id}"), &key)
        .await
        .expect(200);
    assert_eq!(read.data()["url"], receiver.url.as_str(), "nothing changed");
}

/// A wrong kind of value is refused as the sync bodies refuse one, saying what the field takes
/// (it read `invalid type: string "yes", expected a boolean`). Decided before the store, so
/// on one engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_refused_in_the_apis_words() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let url = "http://erp.example/hook";
    let cases = [
        (
            json!({"url": url, "events": ["job.*"], "active": "yes"}),
            "active",
            "must be true or false (got \"yes\")",
        ),
        (
            json!({"url": 5, "events": ["job.*"]}),
            "url",
            "must be text (got 5)",
        ),
        (
            json!({"url": url, "events": "job.*"}),
            "events",
            "must be a list of texts (got \"job.*\")",
        ),
        (
            json!({"url": url, "events": [1]}),
            "events[0]",
            "must be text (got 1)",
        ),
        (
            json!({"url": url, "event_type": true}),
            "event_type",
            "must be text (got true)",
        ),
        (
            json!({"url": url, "events": ["job.*"], "description": 7}),
            "description",
            "must be text (got 7)",
        ),
    ];
    for (body, field, message) in cases {
        let reply = server.post("/api-webhooks", &key, &body).await.expect(400);
        let detail = &reply.body["error"]["details"][0];
        assert_eq!(
            (&detail["field"], &detail["message"]),
            (&json!(field), &json!(message)),
            "{body}"
        );
    }
    let created = server
        .post(
            "/api-webhooks",
            &key,
            &json!({"url": url, "events": ["job.*"], "active": null}),
        )
        .await
        .expect(201);
    assert_eq!(created.data()["active"], true, "null leaves the default");
    let id = created.data()["id"].as_str().unwrap().to_owned();
    let reply = patch(&server, &key, &id, json!({"active": 1}))
        .await
        .expect(400);
    assert_eq!(
        reply.body["error"]["details"][0]["message"],
        "must be true or false (got 1)"
    );
    let reply = patch(&server, &key, &id, json!({"events": {"a": 1}}))
        .await
        .expect(400);
    assert_eq!(
        reply.body["error"]["details"][0]["message"],
        "must be a list of texts (got an object)"
    );
    let replay = format!("/api-webhooks/{id}/replay");
    for (body, field, message) in [
        (json!({"since": 1}), "since", "must be text (got 1)"),
        (
            json!({"since": "2026-01-01T00:00:00Z", "types": "job.*"}),
            "types",
            "must be a list of texts (got \"job.*\")",
        ),
    ] {
        let reply = server.post(&replay, &key, &body).await.expect(400);
        let detail = &reply.body["error"]["details"][0];
        assert_eq!(
            (&detail["field"], &detail["message"]),
            (&json!(field), &json!(message)),
            "{body}"
        );
    }
}

/// A replay's `until` before its `since` selects nothing: a mistake, refused rather than
/// answered "queued 0".
async fn a_backward_replay_range_is_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&server, &key, &receiver.url, json!(["job.*"])).await;
    let replay = format!("/api-webhooks/{}/replay", endpoint["id"].as_str().unwrap());
    let backwards = json!({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"});
    refused(server.post(&replay, &key, &backwards).await, "until");
    // The same instant written with another offset is not earlier.
    let forwards = json!({"since": "2026-01-01T12:00:00+02:00", "until": "2026-01-01T11:00:00Z"});
    server.post(&replay, &key, &forwards).await.expect(202);
}

/// Test, retry and replay on a switched-off endpoint would queue what is never sent: 409, with
/// how to switch it on; once on, they are taken again.
async fn sending_to_a_disabled_endpoint_is_a_conflict(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&server, &key, &receiver.url, json!(["job.*"])).await;
    let id = endpoint["id"].as_str().unwrap();
    post_empty(&server, &key, &format!("/api-webhooks/{id}/test"))
        .await
        .expect(202);
    receiver.wait_for(1, PATIENCE).await;
    let delivery = deliveries(&server, &key, id).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    patch(&server, &key, id, json!({"active": false}))
        .await
        .expect(200);

    let retry = format!("/api-webhooks/{id}/deliveries/{delivery}/retry");
    let replay = json!({"since": "2026-01-01T00:00:00Z"});
    for reply in [
        post_empty(&server, &key, &format!("/api-webhooks/{id}/test")).await,
        post_empty(&server, &key, &retry).await,
        server
            .post(&format!("/api-webhooks/{id}/replay"), &key, &replay)
            .await,
    ] {
        let reply = reply.expect(409);
        assert_eq!(reply.error_code(), "CONFLICT");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("disabled") && message.contains(r#"{"active": true}"#),
            "{message}"
        );
    }
    assert_eq!(
        deliveries(&server, &key, id).await.len(),
        1,
        "nothing queued"
    );

    patch(&server, &key, id, json!({"active": true}))
        .await
        .expect(200);
    post_empty(&server, &key, &retry).await.expect(202);
    receiver.wait_for(2, PATIENCE).await;
}

/// A connector written for Eryxon registers for Eryxon's event types, some of which this
/// server never writes (`issue.created`): accepted, and it gets the ones it does write. A
/// type neither knows is still refused.
async fn eryxons_other_event_types_are_accepted(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let events = json!(["job.completed", "issue.created", "ncr.*", "step.added"]);
    let endpoint = register(&server, &key, &receiver.url, events).await;
    assert!(endpoint["id"].is_string(), "{endpoint}");
    let typo = json!({"url": receiver.url, "events": ["job.complete"]});
    refused(server.post("/api-webhooks", &key, &typo).await, "events");
}

/// A replay's limit counts the events it queues, not those it reads past: a job's event after
/// 10 000 cells' is still found, and a replay that stops at the limit says where to go on.
/// (It read the first 10 000 events of the range and filtered them, answering `queued: 0`.)
async fn a_replay_counts_what_it_queues_not_what_it_reads(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let since = "2000-01-01T00:00:00Z";
    for batch in 0..11 {
        let count = if batch == 10 { 1 } else { 1000 };
        let cells: Vec<Value> = (0..count)
            .map(|i| {
                json!({"external_id": format!("C-{batch}-{i}"), "external_source": "SAP",
                "name": format!("Cell {batch}-{i}")})
            })
            .collect();
        let body = json!({"cells": cells});
        server
            .post("/api-cells/bulk-sync", &key, &body)
            .await
            .expect(200);
    }
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1"});
    server.put("/api-jobs/sync", &key, &job).await.expect(201);

    // Registered after the events, so only the replays queue them.
    let receiver = Receiver::start().await;
    let replay = |events: Value, since: String| {
        let (server, key, receiver) = (&server, &key, &receiver);
        async move {
            let endpoint = register(server, key, &receiver.url, events).await;
            let path = format!("/api-webhooks/{}/replay", endpoint["id"].as_str().unwrap());
            let body = json!({"since": since});
            let reply = server.post(&path, key, &body).await.expect(202);
            reply.data().clone()
        }
    };
    let jobs = replay(json!(["job.*"]), since.into()).await;
    assert_eq!(jobs, json!({"queued": 1}));

    let cells = replay(json!(["cell.*"]), since.into()).await;
    assert_eq!(cells["queued"], 10_000);
    let resume = cells["resume_from"].as_str().expect("where to go on");
    let rest = replay(json!(["cell.created"]), resume.to_owned()).await;
    let rest = rest["queued"].as_u64().unwrap();
    assert!(
        (1..=1000).contains(&rest),
        "{rest}: the cells left out, and their instant's"
    );
}

on_every_engine!(
    nul_texts_and_year_zero_are_refused,
    null_clears_the_description_and_is_refused_for_the_url,
    a_backward_replay_range_is_refused,
    sending_to_a_disabled_endpoint_is_a_conflict,
    eryxons_other_event_types_are_accepted,
    a_replay_counts_what_it_queues_not_what_it_reads,
);
