//! Sync history and idempotent retries.

use eryxon::store::Claim;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

async fn every_sync_call_is_in_the_history(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let bulk = json!({"cells": [
        {"external_id": "C1", "external_source": "SAP", "name": "a"},
        {"external_id": "C2", "external_source": "SAP", "name": "b", "color": "red"},
        {"external_id": "C3", "external_source": "NetSuite", "name": "c"}]});
    let bulk_reply = server
        .post("/api-cells/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    let part = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "NOPE", "part_number": "p"});
    let part_reply = server.put("/api-parts/sync", &key, &part).await.expect(422);
    let dry = json!({"external_id": "J", "external_source": "SAP", "job_number": "1"});
    server
        .put("/api-jobs/sync?dry_run=true", &key, &dry)
        .await
        .expect(201);

    let history = server.get("/api-sync/imports", &key).await.expect(200);
    let entries = history.data()["imports"].as_array().unwrap().clone();
    assert_eq!(history.data()["pagination"]["total"], 3);
    let endpoints: Vec<_> = entries.iter().map(|e| e["endpoint"].clone()).collect();
    assert_eq!(
        endpoints,
        [
            json!("PUT /api-jobs/sync"),
            json!("PUT /api-parts/sync"),
            json!("POST /api-cells/bulk-sync")
        ],
        "newest first"
    );
    assert_eq!(entries[0]["dry_run"], true);
    assert_eq!(entries[1]["status"], 422);
    assert_eq!(entries[1]["errors"], 1);
    assert_eq!(
        entries[1]["request_id"],
        part_reply.header("x-request-id").unwrap()
    );

    let bulk_entry = &entries[2];
    for field in ["total", "created", "updated", "unchanged", "errors"] {
        assert_eq!(bulk_entry[field], bulk_reply.data()[field], "{field}");
    }
    assert_eq!(bulk_entry["sources"], json!(["NetSuite", "SAP"]));
    assert_eq!(
        bulk_entry["request_id"],
        bulk_reply.header("x-request-id").unwrap()
    );
    assert!(
        bulk_entry.get("error_details").is_none(),
        "the list leaves details out"
    );
    let id = bulk_entry["id"].as_str().unwrap();
    let detail = server
        .get(&format!("/api-sync/imports/{id}"), &key)
        .await
        .expect(200);
    let errors = detail.data()["error_details"].as_array().unwrap().clone();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["index"], 1);
    assert_eq!(errors[0]["external_id"], "C2");
    assert_eq!(errors[0]["field"], "color");
    assert_eq!(errors[0]["code"], "VALIDATION_ERROR");

    let only_cells = server
        .get("/api-sync/imports?entity=cells", &key)
        .await
        .expect(200);
    assert_eq!(only_cells.data()["pagination"]["total"], 1);
    server
        .get("/api-sync/imports?entity=widgets", &key)
        .await
        .expect(400);
    // By outcome, as the console filters, each call under one: the part's 422 failed, the
    // bulk call rejected a record, the dry run was clean.
    for (outcome, total) in [("clean", 1), ("rejected", 1), ("failed", 1)] {
        let path = format!("/api-sync/imports?outcome={outcome}");
        let only = server.get(&path, &key).await.expect(200);
        assert_eq!(only.data()["pagination"]["total"], total, "{outcome}");
    }
    // By the request id an ERP reports.
    let request_id = part_reply.header("x-request-id").unwrap();
    let found = server
        .get(&format!("/api-sync/imports?request_id={request_id}"), &key)
        .await
        .expect(200);
    assert_eq!(found.data()["pagination"]["total"], 1);
    assert_eq!(found.data()["imports"][0]["status"], 422);
    let wrong = server
        .get("/api-sync/imports?outcome=bad", &key)
        .await
        .expect(400);
    assert_eq!(
        wrong.body["error"]["details"][0]["field"], "outcome",
        "{}",
        wrong.body
    );
    let other = server.key("globex").await;
    let theirs = server.get("/api-sync/imports", &other).await.expect(200);
    assert_eq!(theirs.data()["pagination"]["total"], 0);
    server
        .get(&format!("/api-sync/imports/{id}"), &other)
        .await
        .expect(404);
}

async fn post_with_key(
    server: &TestServer,
    key: &str,
    idem: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api-jobs/bulk-sync", server.base))
        .bearer_auth(key)
        .header("idempotency-key", idem)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn retries_with_an_idempotency_key_replay(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let body =
        json!({"jobs": [{"external_id": "SO-1", "external_source": "SAP", "job_number": "1"}]});
    let first = post_with_key(&server, &key, "retry-1", &body).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();
    assert_eq!(first["data"]["created"], 1);

    let again = post_with_key(&server, &key, "retry-1", &body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert!(again.headers().get("x-ratelimit-remaining").is_some());
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(
        again, first,
        "the stored answer, word for word: still `created`"
    );
    let history = server.get("/api-sync/imports", &key).await.expect(200);
    assert_eq!(
        history.data()["pagination"]["total"],
        1,
        "the replay did not run again"
    );

    let changed =
        json!({"jobs": [{"external_id": "SO-1", "external_source": "SAP", "job_number": "2"}]});
    let reused = post_with_key(&server, &key, "retry-1", &changed).await;
    assert_eq!(reused.status(), 422);
    let reused: serde_json::Value = reused.json().await.unwrap();
    assert_eq!(reused["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(server.all("jobs", &key).await[0]["job_number"], "1");

    let other_key = server.key("acme").await;
    let theirs = post_with_key(&server, &other_key, "retry-1", &changed).await;
    assert_eq!(theirs.status(), 200, "keys are per API key");

    let bad = post_with_key(&server, &key, "", &body).await;
    assert_eq!(bad.status(), 400);
}

async fn a_retry_while_the_first_call_runs_is_told_to_wait(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let body =
        json!({"jobs": [{"external_id": "SO-1", "external_source": "SAP", "job_number": "1"}]});
    let bytes = serde_json::to_vec(&body).unwrap();
    // The first call, caught mid-flight: its key is claimed and no answer is stored yet.
    let mut hash = Sha256::new();
    hash.update(b"POST /api-jobs/bulk-sync\n");
    hash.update(&bytes);
    let stored = server
        .store
        .find_api_key(&key[9..21])
        .await
        .unwrap()
        .unwrap();
    let claim = server
        .store
        .claim_idempotency_key(stored.id, "in-flight", &hex::encode(hash.finalize()))
        .await
        .unwrap();
    assert_eq!(claim, Claim::Fresh);

    let reply = server
        .send(
            Method::POST,
            "/api-jobs/bulk-sync",
            Some(&key),
            Some(bytes),
            Some("application/json"),
        )
        .await;
    assert_eq!(reply.status, 200, "without the header nothing is held back");
    let retry = reqwest::Client::new()
        .post(format!("{}/api-jobs/bulk-sync", server.base))
        .bearer_auth(&key)
        .header("idempotency-key", "in-flight")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 409);
    let retry: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(retry["error"]["code"], "IDEMPOTENCY_IN_PROGRESS");
}

/// A sync whose body is refused as invalid is a refused call like any other: in the history,
/// with its error, and in the feed as `sync.completed`. (Only errors found after decoding were
/// kept: an unknown field or a missing key left no trace.) A call refused whole for what it
/// is, not what it holds (not JSON, the wrong type), is kept too, with no records.
async fn a_body_refused_as_invalid_is_in_the_history(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let unknown = json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
        "colour": "red"});
    let refused = server
        .put("/api-jobs/sync", &key, &unknown)
        .await
        .expect(400);
    let malformed = br#"{"jobs": [{"external_id": "J""#.to_vec();
    let json = Some("application/json");
    let bulk = "/api-jobs/bulk-sync";
    let reply = server
        .send(Method::POST, bulk, Some(&key), Some(malformed), json)
        .await;
    reply.expect(400);
    let text = b"external_id=J".to_vec();
    let form = Some("application/x-www-form-urlencoded");
    let reply = server.send(Method::PUT, "/api-jobs/sync", Some(&key), Some(text), form);
    reply.await.expect(415);

    let history = server.get("/api-sync/imports", &key).await.expect(200);
    assert_eq!(
        history.data()["pagination"]["total"],
        3,
        "{:#}",
        history.body
    );
    let entries = history.data()["imports"].as_array().unwrap().clone();
    assert_eq!(entries[0]["endpoint"], "PUT /api-jobs/sync");
    assert_eq!(entries[0]["status"], 415);
    assert_eq!(entries[1]["endpoint"], "POST /api-jobs/bulk-sync");
    assert_eq!(
        entries[1]["status"], 400,
        "a bulk call refused whole is not a 200"
    );
    assert_eq!(entries[2]["endpoint"], "PUT /api-jobs/sync");
    assert_eq!(entries[2]["status"], 400);
    assert_eq!(entries[2]["errors"], 1);
    assert_eq!(
        entries[2]["request_id"],
        refused.header("x-request-id").unwrap()
    );
    let feed = server
        .get("/api-events?types=sync.completed", &key)
        .await
        .expect(200);
    assert_eq!(feed.data()["events"].as_array().unwrap().len(), 3);
}

/// A sync refused whole, for its query string, a header, its content type, a body that is no
/// record (not JSON) or its size, is in the history, with no records, with its status and the reason it was given, so that a failed nightly call can
/// be found; a rate-limited or waiting retry is not a call of its own.
async fn a_call_refused_whole_is_in_the_history(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = json!({"external_id": "C1", "external_source": "SAP", "name": "Laser"});
    let body = Some(cell.to_string().into_bytes());
    server
        .put("/api-cells/sync?x=1", &key, &cell)
        .await
        .expect(400);
    server
        .put("/api-cells/sync?children=replace&dry_run=true", &key, &cell)
        .await
        .expect(400);
    let odd_key = reqwest::Client::new()
        .put(format!("{}/api-cells/sync", server.base))
        .bearer_auth(&key)
        .header("Idempotency-Key", "a b")
        .json(&cell)
        .send()
        .await
        .unwrap();
    assert_eq!(odd_key.status(), 400);
    let text = Some("text/plain");
    let reply = server.send(
        Method::PUT,
        "/functions/v1/api-cells/sync",
        Some(&key),
        body,
        text,
    );
    reply.await.expect(415);
    let not_json = Some(b"hello".to_vec());
    let json = Some("application/json");
    let reply = server.send(Method::PUT, "/api-cells/sync", Some(&key), not_json, json);
    reply.await.expect(400);
    let many: Vec<_> = (0..1001)
        .map(|i| json!({"external_id": format!("C{i}"), "external_source": "SAP", "name": "x"}))
        .collect();
    server
        .post("/api-cells/bulk-sync", &key, &json!({"cells": many}))
        .await
        .expect(400);

    let history = server.get("/api-sync/imports", &key).await.expect(200);
    let entries = history.data()["imports"].as_array().unwrap().clone();
    let seen: Vec<_> = entries
        .iter()
        .map(|e| {
            (
                e["endpoint"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
                e["total"].as_u64().unwrap(),
                e["dry_run"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("POST /api-cells/bulk-sync", 400, 0, false),
            ("PUT /api-cells/sync", 400, 0, false),
            ("PUT /api-cells/sync", 415, 0, false),
            ("PUT /api-cells/sync", 400, 0, false),
            ("PUT /api-cells/sync", 400, 0, true),
            ("PUT /api-cells/sync", 400, 0, false),
        ],
        "newest first"
    );
    let why = |n: usize| {
        let id = entries[n]["id"].as_str().unwrap().to_owned();
        let server = &server;
        let key = &key;
        async move {
            let entry = server
                .get(&format!("/api-sync/imports/{id}"), key)
                .await
                .expect(200);
            entry.data()["error_details"][0].clone()
        }
    };
    let unknown = why(5).await;
    assert_eq!(
        (&unknown["code"], &unknown["field"]),
        (&json!("VALIDATION_ERROR"), &json!("x"))
    );
    // No record of the call was read: the reason names none (it said record 0).
    assert_eq!(unknown["index"], Value::Null);
    assert_eq!(why(3).await["field"], "Idempotency-Key");
    assert_eq!(why(2).await["code"], "UNSUPPORTED_MEDIA_TYPE");
    let not_json = why(1).await;
    assert!(
        not_json["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"),
        "{not_json}"
    );
    let too_many = why(0).await;
    assert!(
        too_many["error"].as_str().unwrap().contains("1000"),
        "{too_many}"
    );
    assert_eq!(
        server.all("cells", &key).await,
        Vec::<serde_json::Value>::new()
    );

    // The console shows such a call as refused, not as a call with a rejected record #0.
    let session = crate::console::sign_in(&server, &key).await;
    let id = entries[2]["id"].as_str().unwrap();
    let html = crate::console::page(&server, &session, &format!("/console/syncs/{id}")).await;
    assert!(
        html.contains("refused before any record was read")
            && html.contains("UNSUPPORTED_MEDIA_TYPE"),
        "{html}"
    );
    assert!(!html.contains("id=\"rejected\""), "{html}");
}

/// `before=<an entry's id>` pages through the history from where the last page ended, while
/// new calls come in; an `offset` page shifts by as many entries as came in.
async fn pages_before_an_entry_do_not_shift(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let sync = |n: usize| {
        let cell = json!({"external_id": format!("C{n}"), "external_source": "SAP", "name": "a"});
        let server = &server;
        let key = &key;
        async move { server.put("/api-cells/sync", key, &cell).await.expect(201) }
    };
    let ids = |reply: &crate::common::Reply| -> Vec<String> {
        let entries = reply.data()["imports"].as_array().unwrap().clone();
        entries
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for n in 1..=3 {
        sync(n).await;
    }
    let first = server
        .get("/api-sync/imports?limit=2", &key)
        .await
        .expect(200);
    let all = ids(&server.get("/api-sync/imports", &key).await.expect(200));
    assert_eq!(ids(&first), all[..2]);
    sync(4).await;

    let after = format!("/api-sync/imports?limit=2&before={}", ids(&first)[1]);
    let next = server.get(&after, &key).await.expect(200);
    assert_eq!(
        ids(&next),
        all[2..],
        "the oldest entry, as when the first page was read"
    );
    assert_eq!(
        next.data()["pagination"]["total"],
        1,
        "entries older than it"
    );
    let shifted = server
        .get("/api-sync/imports?limit=2&offset=2", &key)
        .await
        .expect(200);
    assert_eq!(
        ids(&shifted),
        all[1..],
        "an offset page shows an entry again"
    );

    let wrong = server
        .get("/api-sync/imports?before=yesterday", &key)
        .await
        .expect(400);
    assert_eq!(wrong.body["error"]["details"][0]["field"], "before");
}

on_every_engine!(
    pages_before_an_entry_do_not_shift,
    a_body_refused_as_invalid_is_in_the_history,
    a_call_refused_whole_is_in_the_history,
    every_sync_call_is_in_the_history,
    retries_with_an_idempotency_key_replay,
    a_retry_while_the_first_call_runs_is_told_to_wait,
);
