//! Every error the API documents: its status, code, envelope and the field it names.

use reqwest::Method;
use serde_json::json;

use crate::common::{Engine, Options, TestServer};
use crate::on_every_engine;

pub(crate) fn job(id: &str) -> serde_json::Value {
    json!({"external_id": id, "external_source": "SAP", "job_number": id})
}

async fn raw(server: &TestServer, key: &str, path: &str, body: &str) -> crate::common::Reply {
    server
        .send(
            Method::PUT,
            path,
            Some(key),
            Some(body.as_bytes().to_vec()),
            Some("application/json"),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_names_line_and_column() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let reply = raw(
        &server,
        &key,
        "/api-jobs/sync",
        "{\n  \"external_id\": \"SO-1\",\n  oops\n}",
    )
    .await
    .expect(400);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 3 column 3"), "{message}");
    let reply = raw(&server, &key, "/api-jobs/sync", "").await.expect(400);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn field_errors_name_the_field() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let cases = [
        (
            "/api-jobs/sync",
            json!({"external_source": "SAP", "job_number": "1"}),
            "external_id",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": 7}),
            "job_number",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": "1", "priorty": 2}),
            "priorty",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": "1", "priority": -1}),
            "priority",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": "1", "status": "done"}),
            "status",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": "1", "due_date": "2024-02-30"}),
            "due_date",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": "1", "metadata": [1]}),
            "metadata",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "", "external_source": "SAP", "job_number": "1"}),
            "external_id",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": null}),
            "job_number",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
            "parts": [{"external_id": "P", "part_number": "p", "quantity": 0}]}),
            "parts[0].quantity",
        ),
        (
            "/api-jobs/sync",
            json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
            "parts": [{"external_id": "P", "part_number": "p",
                "operations": [{"external_id": "O", "operation_name": "o"}]}]}),
            "parts[0].operations[0].cell_name",
        ),
        (
            "/api-cells/sync",
            json!({"external_id": "C", "external_source": "SAP", "name": "c", "color": "blue"}),
            "color",
        ),
        (
            "/api-cells/sync",
            json!({"external_id": "C", "external_source": "SAP", "name": "c", "active": "yes"}),
            "active",
        ),
        (
            "/api-cells/sync",
            json!({"external_id": "C", "external_source": "SAP", "name": "c", "capacity_hours_per_day": 30}),
            "capacity_hours_per_day",
        ),
        (
            "/api-resources/sync",
            json!({"external_id": "R", "external_source": "SAP", "name": "r", "type": "machine"}),
            "type",
        ),
        (
            "/api-resources/sync",
            json!({"external_id": "R", "external_source": "SAP", "name": "r", "status": "broken"}),
            "status",
        ),
        (
            "/api-parts/sync",
            json!({"external_id": "P", "external_source": "SAP", "part_number": "p"}),
            "job_external_id",
        ),
        (
            "/api-operations/sync",
            json!({"external_id": "O", "external_source": "SAP", "operation_name": "o", "cell_name": "c"}),
            "part_external_id",
        ),
        (
            "/api-operations/sync",
            json!({"external_id": "O", "external_source": "SAP", "part_external_id": "P",
            "operation_name": "o", "cell_name": "c", "sequence": 0}),
            "sequence",
        ),
    ];
    for (path, body, field) in cases {
        let reply = server.put(path, &key, &body).await;
        assert_eq!(reply.status, 400, "{path} {body}: {:#}", reply.body);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR");
        assert_eq!(reply.body["error"]["details"][0]["field"], field, "{body}");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
    }
    assert!(
        server.all("jobs", &key).await.is_empty(),
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_strings_are_refused() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let long = "x".repeat(256);
    let reply = server
        .put(
            "/api-jobs/sync",
            &key,
            &json!({"external_id": long, "external_source": "SAP", "job_number": "1"}),
        )
        .await
        .expect(400);
    assert_eq!(reply.body["error"]["details"][0]["field"], "external_id");
    let reply = server
        .put("/api-jobs/sync", &key, &json!({"external_id": "J", "external_source": "SAP", "job_number": "1", "notes": "a\u{0}b"}))
        .await
        .expect(400);
    assert_eq!(reply.body["error"]["details"][0]["field"], "notes");
}

async fn unauthorized_without_a_valid_key(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let body = Some(serde_json::to_vec(&job("J")).unwrap());
    let missing = server
        .send(
            Method::PUT,
            "/api-jobs/sync",
            None,
            body.clone(),
            Some("application/json"),
        )
        .await
        .expect(401);
    assert_eq!(missing.error_code(), "UNAUTHORIZED");
    let mut forged = key.clone();
    forged.pop();
    forged.push(if key.ends_with('a') { 'b' } else { 'a' });
    for bad in [forged.as_str(), "ery_live_short", "not-a-key"] {
        let reply = server
            .send(
                Method::PUT,
                "/api-jobs/sync",
                Some(bad),
                body.clone(),
                Some("application/json"),
            )
            .await
            .expect(401);
        assert_eq!(reply.error_code(), "UNAUTHORIZED");
        assert!(
            !reply.body.to_string().contains(bad),
            "the key is not echoed"
        );
    }
    let list = server
        .get(
            "/api-jobs",
            "ery_live_0000000000000000000000000000000000000000",
        )
        .await;
    assert_eq!(list.expect(401).error_code(), "UNAUTHORIZED");
    assert!(server.all("jobs", &key).await.is_empty());
}

async fn unknown_paths_and_ids_are_not_found(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let reply = server.get("/api-widgets", &key).await.expect(404);
    assert_eq!(reply.error_code(), "NOT_FOUND");
    let reply = server.get("/api-jobs/not-a-uuid", &key).await.expect(404);
    assert_eq!(reply.error_code(), "NOT_FOUND");
    let reply = server
        .get(&format!("/api-jobs/{}", uuid::Uuid::now_v7()), &key)
        .await
        .expect(404);
    assert_eq!(reply.error_code(), "NOT_FOUND");
    let reply = server
        .get("/api-jobs/..%2F..%2Fetc%2Fpasswd", &key)
        .await
        .expect(404);
    assert_eq!(reply.error_code(), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_method_not_allowed() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    for (method, path) in [
        (Method::GET, "/api-jobs/sync"),
        (Method::POST, "/api-jobs/sync"),
        (Method::PUT, "/api-cells/bulk-sync"),
        (Method::DELETE, "/api-jobs"),
    ] {
        let reply = server
            .send(method.clone(), path, Some(&key), None, None)
            .await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.error_code(), "METHOD_NOT_ALLOWED");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_json_content_type_is_unsupported() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let body = Some(serde_json::to_vec(&job("J")).unwrap());
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        None,
    ] {
        let reply = server
            .send(
                Method::PUT,
                "/api-jobs/sync",
                Some(&key),
                body.clone(),
                content_type,
            )
            .await
            .expect(415);
        assert_eq!(reply.error_code(), "UNSUPPORTED_MEDIA_TYPE");
    }
    let reply = server
        .send(
            Method::PUT,
            "/api-jobs/sync",
            Some(&key),
            body,
            Some("application/json; charset=utf-8"),
        )
        .await;
    assert_eq!(reply.status, 201);
}

/// A compressed body is refused naming its encoding (it was "expected value at line 1 column
/// 1"); a UTF-8 byte order mark before the JSON, as .NET writes it, is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_body_is_refused_as_such() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let reply = reqwest::Client::new()
        .put(format!("{}/api-jobs/sync", server.base))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(b"\x1f\x8b\x08\x00\x00\x00\x00\x00".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 415);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Content-Encoding: gzip"), "{message}");

    let with_bom = format!("\u{feff}{}", job("J1"));
    raw(&server, &key, "/api-jobs/sync", &with_bom)
        .await
        .expect(201);
    let bulk = format!("\u{feff}{}", json!({"jobs": [job("J2")]}));
    let reply = server
        .send(
            Method::POST,
            "/api-jobs/bulk-sync",
            Some(&key),
            Some(bulk.into_bytes()),
            Some("application/json"),
        )
        .await
        .expect(200);
    assert_eq!(reply.data()["created"], 1);

    // A body declared in another charset is refused as such, not as bad JSON; UTF-8 declared
    // is taken.
    let latin = server
        .send(
            Method::PUT,
            "/api-jobs/sync",
            Some(&key),
            Some(job("J3").to_string().into_bytes()),
            Some("application/json; charset=iso-8859-1"),
        )
        .await
        .expect(415);
    let message = latin.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("charset=iso-8859-1") && message.contains("UTF-8"),
        "{message}"
    );
    server
        .send(
            Method::PUT,
            "/api-jobs/sync",
            Some(&key),
            Some(job("J3").to_string().into_bytes()),
            Some("application/json; charset=UTF-8"),
        )
        .await
        .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_payload_too_large() {
    let options = Options {
        max_body_bytes: 4096,
        ..Options::default()
    };
    let server = TestServer::start_with(Engine::Sqlite, options).await;
    let key = server.key("acme").await;
    let jobs: Vec<_> = (0..100).map(|i| job(&format!("SO-{i}"))).collect();
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": jobs}))
        .await
        .expect(413);
    assert_eq!(reply.error_code(), "PAYLOAD_TOO_LARGE");
    assert!(server.all("jobs", &key).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misnamed_bulk_array_is_a_validation_error() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &json!({"parts": []}))
        .await
        .expect(400);
    assert_eq!(reply.body["error"]["details"][0]["field"], "parts");
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &json!([job("J")]))
        .await
        .expect(400);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_has_a_request_id() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let ok = server.put("/api-jobs/sync", &key, &job("J")).await;
    let error = server.get("/api-nothing", &key).await;
    let health = server
        .send(Method::GET, "/healthz", None, None, None)
        .await
        .expect(200);
    let ids: Vec<_> = [&ok, &error, &health]
        .iter()
        .map(|r| r.header("x-request-id").expect("x-request-id").to_owned())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(health.data(), "ok");
}

// Only what the store decides can differ between engines: the tests decided before the
// store is asked (routing, decoding, validation, headers) run once, on SQLite.
/// A write route that takes no query parameter refuses one, named, as the routes that take
/// some refuse those they do not know: taken in silence, `DELETE …?dry_run=true` deleted the
/// record, and a floor action or quantity report "tried" as a dry run was real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_refuse_query_parameters_they_do_not_take() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let (o1, _) = crate::floor::routing(&server, &key).await;
    let calls = [
        (
            Method::DELETE,
            "/api-jobs/by-external/SAP/J?dry_run=true".to_owned(),
            None,
        ),
        (
            Method::DELETE,
            format!("/api-operations/{o1}?bogus=1"),
            None,
        ),
        (
            Method::POST,
            "/api-operations/by-external/SAP/O1/start?dry_run=true".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/api-operation-quantities?dry_run=1".to_owned(),
            Some(json!({"operation_id": o1, "good": 1})),
        ),
        (
            Method::POST,
            "/api-webhooks?x=1".to_owned(),
            Some(json!({"url": "https://erp.example/hook", "events": ["job.*"]})),
        ),
    ];
    for (method, path, body) in calls {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        let content_type = body.as_ref().map(|_| "application/json");
        let reply = server
            .send(method, &path, Some(&key), body, content_type)
            .await
            .expect(400);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR");
        let field = &reply.body["error"]["details"][0]["field"];
        assert!(
            path.contains(&format!("?{}=", field.as_str().unwrap())),
            "{path}: {field}"
        );
    }
    let job = server
        .get("/api-jobs/by-external/SAP/J", &key)
        .await
        .expect(200);
    assert!(job.data()["deleted_at"].is_null(), "nothing was deleted");
    let operation = server.get(&format!("/api-operations/{o1}"), &key).await;
    let operation = operation.expect(200);
    assert_eq!(
        operation.data()["status"],
        "not_started",
        "nothing was started"
    );
    assert_eq!(operation.data()["quantity_good"], 0, "nothing was counted");
    let hooks = server.get("/api-webhooks", &key).await.expect(200);
    assert_eq!(hooks.data()["total"], 0);
}

on_every_engine!(
    unauthorized_without_a_valid_key,
    unknown_paths_and_ids_are_not_found,
);
