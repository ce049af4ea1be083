//! Hostile and malformed input: every case gets a precise 4xx, nothing is written, and the
//! server stays healthy.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Engine, Options, TestServer};
use crate::on_every_engine;

/// A valid single-sync body per entity, each field set, for mutating one field at a time;
/// every entity, so every field of every payload is covered.
fn valid_bodies() -> Vec<(&'static str, Value)> {
    vec![
        (
            "jobs",
            json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
            "customer": "c", "due_date": "2024-12-31", "priority": 1, "status": "on_hold",
            "notes": "n", "metadata": {"k": 1}}),
        ),
        (
            "cells",
            json!({"external_id": "C", "external_source": "SAP", "name": "n",
            "color": "#aabbcc", "sequence": 1, "active": true, "capacity_hours_per_day": 8.5,
            "wip_limit": 3, "notes": "n", "metadata": {}}),
        ),
        (
            "resources",
            json!({"external_id": "R", "external_source": "SAP", "name": "n",
            "type": "mold", "status": "in_use", "description": "d", "identifier": "i",
            "location": "l", "notes": "n", "metadata": {}}),
        ),
    ]
}

/// JSON values of every type; the ones that match a field's type are skipped per field.
fn values_of_every_type() -> Vec<Value> {
    vec![
        json!(true),
        json!(12),
        json!(1.5),
        json!("text"),
        json!([1]),
        json!({"a": 1}),
    ]
}

fn same_type(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.is_f64() == y.is_f64() || x.is_f64(),
        _ => std::mem::discriminant(a) == std::mem::discriminant(b),
    }
}

async fn healthy(server: &TestServer) {
    let reply = server.send(Method::GET, "/healthz", None, None, None).await;
    assert_eq!(reply.status, 200, "the server is still healthy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wrong_type_for_every_field_is_named() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let mut cases = 0;
    for (entity, body) in valid_bodies() {
        server
            .put(&format!("/api-{entity}/sync"), &key, &body)
            .await
            .expect(201);
        for (field, valid) in body.as_object().unwrap() {
            for wrong in values_of_every_type() {
                if same_type(valid, &wrong) {
                    continue;
                }
                let mut bad = body.clone();
                bad[field] = wrong.clone();
                let reply = server.put(&format!("/api-{entity}/sync"), &key, &bad).await;
                assert_eq!(
                    reply.status, 400,
                    "{entity}.{field} = {wrong}: {:#}",
                    reply.body
                );
                assert_eq!(reply.error_code(), "VALIDATION_ERROR");
                assert_eq!(
                    reply.body["error"]["details"][0]["field"],
                    field.as_str(),
                    "{entity}.{field} = {wrong}"
                );
                cases += 1;
            }
        }
        let stored = server.all(entity, &key).await;
        assert_eq!(stored.len(), 1, "nothing but the valid record was written");
    }
    assert!(cases > 100, "{cases} cases");
    healthy(&server).await;
}

async fn raw_body(server: &TestServer, key: &str, body: Vec<u8>) -> crate::common::Reply {
    server
        .send(
            Method::PUT,
            "/api-jobs/sync",
            Some(key),
            Some(body),
            Some("application/json"),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_precise_errors() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let deep = format!("{{\"external_id\":\"J\",\"external_source\":\"S\",\"job_number\":\"1\",\"metadata\":{{\"a\":{}{}}}}}",
        "[".repeat(10_000), "]".repeat(10_000));
    let long_notes = format!(
        r#"{{"external_id":"J","external_source":"S","job_number":"1","notes":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("huge number", br#"{"external_id":"J","external_source":"S","job_number":"1","priority":1e400}"#.to_vec(), Some("priority")),
        ("big integer", br#"{"external_id":"J","external_source":"S","job_number":"1","priority":99999999999999999999}"#.to_vec(), Some("priority")),
        ("NaN", br#"{"external_id":"J","external_source":"S","job_number":"1","priority":NaN}"#.to_vec(), None),
        ("10k-deep nesting", deep.into_bytes(), None),
        ("1 MB string", long_notes.into_bytes(), Some("notes")),
        ("invalid UTF-8", b"{\"external_id\":\"J\xff\xfe\",\"external_source\":\"S\",\"job_number\":\"1\"}".to_vec(), None),
        ("NUL character", br#"{"external_id":"J\u0000","external_source":"S","job_number":"1"}"#.to_vec(), Some("external_id")),
        ("duplicate key", br#"{"external_id":"J","external_id":"K","external_source":"S","job_number":"1"}"#.to_vec(), Some("external_id")),
        ("truncated", br#"{"external_id":"J","external_source":"S","job_nu"#.to_vec(), None),
        ("not an object", br#"["external_id"]"#.to_vec(), None),
        ("trailing garbage", br#"{"external_id":"J","external_source":"S","job_number":"1"}{}"#.to_vec(), None),
    ];
    for (name, body, field) in cases {
        let reply = raw_body(&server, &key, body).await;
        assert_eq!(reply.status, 400, "{name}: {:#}", reply.body);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{name}");
        if let Some(field) = field {
            assert_eq!(reply.body["error"]["details"][0]["field"], field, "{name}");
        }
    }
    assert!(server.all("jobs", &key).await.is_empty());
    healthy(&server).await;
}

async fn injection_looking_values_are_stored_verbatim(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let nasty = [
        "'; DROP TABLE jobs; --",
        "\" OR 1=1 --",
        "<script>alert('x')</script>",
        "Robert'); DELETE FROM api_keys;--",
        "\\u0000 is not a NUL, \\ is a backslash, % and _ are not wildcards",
        "emoji 🛠️ and ünïcödé",
    ];
    for (i, text) in nasty.iter().enumerate() {
        let job = json!({"external_id": format!("{text}-{i}"), "external_source": text,
            "job_number": text, "customer": text, "metadata": {text.to_string(): text}});
        let created = server.put("/api-jobs/sync", &key, &job).await.expect(201);
        let id = created.data()["id"].as_str().unwrap();
        let stored = server
            .get(&format!("/api-jobs/{id}"), &key)
            .await
            .expect(200);
        for field in ["external_source", "job_number", "customer"] {
            assert_eq!(stored.data()[field], *text, "{field}");
        }
        assert_eq!(stored.data()["metadata"][text], *text);
        let found = server
            .get(&format!("/api-jobs?search={}", urlencode(text)), &key)
            .await
            .expect(200);
        assert!(
            found.data()["pagination"]["total"].as_u64().unwrap() >= 1,
            "{text}"
        );
    }
    assert_eq!(server.all("jobs", &key).await.len(), nasty.len());
    healthy(&server).await;
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends raw bytes on one connection and reads whatever comes back until it closes or stalls.
async fn raw_exchange(server: &TestServer, chunks: &[(&[u8], Duration)]) -> String {
    let address = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    for (bytes, pause) in chunks {
        if stream.write_all(bytes).await.is_err() {
            break;
        }
        tokio::time::sleep(*pause).await;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_truncated_and_pipelined_requests() {
    let options = Options {
        request_timeout_secs: 1,
        ..Options::default()
    };
    let server = TestServer::start_with(Engine::Sqlite, options).await;
    let key = server.key("acme").await;
    let head = |length: usize, close: bool| {
        format!(
            "PUT /api-cells/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n{}\r\n",
            if close { "Connection: close\r\n" } else { "" }
        )
    };
    let body = br#"{"external_id":"C","external_source":"S","name":"n"}"#;

    // Slow loris: the body trickles in and never completes within the request timeout.
    let slow_head = head(body.len(), true);
    let answer = raw_exchange(
        &server,
        &[
            (slow_head.as_bytes(), Duration::from_millis(1500)),
            (&body[..5], Duration::ZERO),
        ],
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");

    // Truncated: the client promises more than it sends, then stops writing.
    let truncated = head(body.len() + 100, true);
    let mut bytes = truncated.into_bytes();
    bytes.extend_from_slice(body);
    let answer = raw_exchange(&server, &[(&bytes, Duration::ZERO)]).await;
    assert!(
        answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );

    // Pipelining: two requests in one write get two answers, in order.
    let mut pipelined = head(body.len(), false).into_bytes();
    pipelined.extend_from_slice(body);
    pipelined.extend_from_slice(head(body.len(), true).as_bytes());
    pipelined.extend_from_slice(body);
    let answer = raw_exchange(&server, &[(&pipelined, Duration::ZERO)]).await;
    let statuses: Vec<&str> = answer
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &answer[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["201", "200"], "{answer}");
    assert_eq!(server.all("cells", &key).await.len(), 1);
    healthy(&server).await;
}

/// A client that stalls inside its request headers, or sits on an idle keep-alive connection,
/// is disconnected once the request timeout has passed; it held its socket for good before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_headers_are_cut_off() {
    let options = Options {
        request_timeout_secs: 1,
        ..Options::default()
    };
    let server = TestServer::start_with(Engine::Sqlite, options).await;
    let key = server.key("acme").await;
    let address = server.base.trim_start_matches("http://");
    let stalled = format!("GET /api-cells HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n");
    let idle = format!("GET /api-cells HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n");
    for (case, bytes) in [("stalled headers", stalled), ("idle keep-alive", idle)] {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(bytes.as_bytes()).await.unwrap();
        let started = std::time::Instant::now();
        let mut answer = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        assert!(
            matches!(closed, Ok(Ok(_))),
            "{case}: the server kept the connection open: {closed:?}"
        );
        let answer = String::from_utf8_lossy(&answer);
        match case {
            "stalled headers" => assert_eq!(answer, "", "{case}"),
            _ => assert!(answer.starts_with("HTTP/1.1 200"), "{case}: {answer}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(900), "{case}");
    }
    healthy(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_refuses_wrong_methods() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let id = uuid::Uuid::now_v7();
    for entity in ["jobs", "parts", "operations", "cells", "resources"] {
        let paths = [
            (format!("/api-{entity}/sync"), "PUT"),
            (format!("/api-{entity}/bulk-sync"), "POST"),
            (format!("/api-{entity}"), "GET"),
            (format!("/api-{entity}/{id}"), "GET DELETE"),
            (format!("/api-{entity}/by-external/SAP/X"), "GET DELETE"),
        ];
        for (path, allowed) in paths {
            for method in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ] {
                if allowed.split(' ').any(|m| m == method.as_str()) {
                    continue;
                }
                let reply = server
                    .send(method.clone(), &path, Some(&key), None, None)
                    .await;
                assert_eq!(reply.status, 405, "{method} {path}");
                assert_eq!(reply.error_code(), "METHOD_NOT_ALLOWED");
            }
        }
    }
    healthy(&server).await;
}

// Only what the store decides can differ between engines: the tests decided before the
// store is asked (routing, decoding, validation, headers) run once, on SQLite.
on_every_engine!(injection_looking_values_are_stored_verbatim);

/// Reads what the server sends on `stream` until it closes the connection; `None` if it is
/// still open after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut answer)).await {
        Ok(Ok(_)) => Some(String::from_utf8_lossy(&answer).into_owned()),
        _ => None,
    }
}

/// A client that stalls inside its body gets its `408`, and then its connection is closed: the
/// body is not read on, and the write never runs, however much more comes. It held the
/// connection for good before, and a stop waited for it as long. Cut off, it is not recorded as
/// "too large" either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_stalled_past_the_timeout_is_cut_off() {
    let options = Options {
        request_timeout_secs: 1,
        ..Options::default()
    };
    let mut server = TestServer::start_with(Engine::Sqlite, options).await;
    let key = server.key("acme").await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let body = br#"{"external_id":"C","external_source":"S","name":"n"}"#;
    let head = format!(
        "PUT /api-cells/sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nIdempotency-Key: stalled-1\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..5]).await.unwrap();
    let answer = until_closed(&mut stream, Duration::from_secs(5)).await;
    let answer = answer.expect("the connection is closed after the 408");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("same Idempotency-Key"), "{answer}");
    assert!(server.all("cells", &key).await.is_empty());
    let history = server.get("/api-sync/imports", &key).await.expect(200);
    assert_eq!(history.data()["pagination"]["total"], 0, "{}", history.body);

    // A stop with such a client still connected ends within the request timeout.
    let mut stalled = TcpStream::connect(&address).await.unwrap();
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&body[..5]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = std::time::Instant::now();
    server.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
}

/// A body cut off by its client is not "too large" in the history (it was, for a call with an
/// `Idempotency-Key`); a `Content-Length` over the limit is refused before the client uploads
/// it, not after a `100 Continue`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_off_is_not_too_large() {
    let options = Options {
        max_body_bytes: 4096,
        ..Options::default()
    };
    let server = TestServer::start_with(Engine::Sqlite, options).await;
    let key = server.key("acme").await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let head = |length: usize, extra: &str| {
        format!(
            "POST /api-cells/bulk-sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nIdempotency-Key: cut-{length}\r\n{extra}\
             Content-Length: {length}\r\n\r\n"
        )
    };
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(head(100, "").as_bytes()).await.unwrap();
    stream.write_all(br#"{"cells": [{"ext"#).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = server.get("/api-sync/imports", &key).await.expect(200);
    assert_eq!(history.data()["pagination"]["total"], 0, "{}", history.body);

    let mut stream = TcpStream::connect(&address).await.unwrap();
    let expect = "Expect: 100-continue\r\n";
    stream
        .write_all(head(1 << 20, expect).as_bytes())
        .await
        .unwrap();
    let mut first = vec![0; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&first), "HTTP/1.1 413");
    let history = server.get("/api-sync/imports", &key).await.expect(200);
    assert_eq!(
        history.data()["imports"][0]["status"],
        413,
        "{}",
        history.body
    );
    healthy(&server).await;
}

/// A floor body is an object: an array is not read as the fields in order, and a scalar is
/// refused in the API's words, not serde's (decided before the store is asked: once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_an_object_is_refused() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let (o1, _) = crate::floor::routing(&server, &key).await;
    let start = format!("/api-operation-lifecycle/start?id={o1}");
    let sent = [
        (json!(["ana", crate::floor::at(5), "hello"]), "a list"),
        (json!(null), "null"),
        (json!(42), "42"),
        (json!("x"), "\"x\""),
    ];
    for (body, got) in &sent {
        for path in [start.as_str(), "/api-operation-quantities"] {
            let refused = server.post(path, &key, body).await.expect(400);
            assert_eq!(refused.error_code(), "VALIDATION_ERROR");
            assert_eq!(
                refused.body["error"]["message"],
                format!("must be a JSON object (got {got})"),
                "{path} {body}"
            );
        }
    }
    let quantity = json!([o1, null, null, 7, 1]);
    server
        .post("/api-operation-quantities", &key, &quantity)
        .await
        .expect(400);
    // A field of the wrong kind is refused in the API's words too.
    for (body, field) in [
        (json!({"operation_id": [o1], "good": 1}), "operation_id"),
        (
            json!({"operation_id": o1, "good": 1, "recorded_at": 17}),
            "recorded_at",
        ),
    ] {
        let path = "/api-operation-quantities";
        let reply = server.post(path, &key, &body).await.expect(400);
        let detail = &reply.body["error"]["details"][0];
        assert_eq!(detail["field"], field, "{body}");
        let message = detail["message"].as_str().unwrap();
        assert!(message.starts_with("must be text (got "), "{message}");
    }
    // Nothing was started or counted.
    let op = server.get(&format!("/api-operations/{o1}"), &key).await;
    assert_eq!(op.expect(200).data()["status"], "not_started");
    let reports = server
        .get(
            &format!("/api-operation-quantities?operation_id={o1}"),
            &key,
        )
        .await
        .expect(200);
    assert_eq!(reports.data()["quantity_reports"], json!([]));
}
