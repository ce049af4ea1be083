//! Field values as JSON writes them. A whole number may come with a fraction or an exponent
//! (`5.0`, `1e2`), as JavaScript, .NET decimals and ERP middleware write them; every refusal,
//! of a wrong value or of a wrong kind of value, names the field and says what it must be in
//! the API's words. Decoding is the same on every engine, so only storing runs on both.

use reqwest::Method;
use serde_json::Value;

use crate::common::{Engine, Reply, TestServer};
use crate::on_every_engine;

const ANY: &str = "a whole number from 0 to 2147483647";
const POSITIVE: &str = "a whole number from 1 to 2147483647";

pub(crate) async fn send(
    server: &TestServer,
    key: &str,
    method: Method,
    path: &str,
    body: &str,
) -> Reply {
    let body = Some(body.as_bytes().to_vec());
    server
        .send(method, path, Some(key), body, Some("application/json"))
        .await
}

/// A job as the ERP writes it, with `fields` (raw JSON text) after its key and number.
pub(crate) fn job(fields: &str) -> String {
    format!(r#"{{"external_id": "SO-1", "external_source": "SAP", "job_number": "1", {fields}}}"#)
}

/// A job's `parts` holding one part with `fields`.
fn part(fields: &str) -> String {
    format!(r#""parts": [{{"external_id": "P-1", "part_number": "p", {fields}}}]"#)
}

/// A part's `operations` holding one operation with `fields`.
fn operation(fields: &str) -> String {
    format!(r#""operations": [{{"external_id": "O-1", "operation_name": "cut", {fields}}}]"#)
}

/// A job whose field at `path` (a job's, its part's or that part's operation's) holds `sent`.
pub(crate) fn job_with(path: &str, sent: &str) -> String {
    let field = path.rsplit('.').next().unwrap();
    let fields = format!(r#""{field}": {sent}"#);
    if path.starts_with("parts[0].operations[0].") {
        job(&part(&operation(&format!(r#""cell_name": "c", {fields}"#))))
    } else if path.starts_with("parts[0].") {
        job(&part(&fields))
    } else {
        job(&fields)
    }
}

/// The one detail of a refused request: its field (if any) and message, which the envelope's
/// message puts together.
pub(crate) fn refusal(reply: Reply) -> (Option<String>, String) {
    let reply = reply.expect(400);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR");
    let details = reply.body["error"]["details"].as_array().expect("details");
    assert_eq!(details.len(), 1, "{:#}", reply.body);
    let field = details[0]["field"].as_str().map(str::to_owned);
    let message = details[0]["message"].as_str().unwrap().to_owned();
    let described = match &field {
        Some(field) => format!("{field}: {message}"),
        None => message.clone(),
    };
    assert_eq!(reply.body["error"]["message"], described);
    (field, message)
}

async fn whole_numbers_written_with_a_fraction_or_an_exponent_are_stored(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = r#"{"external_id": "WC-1", "external_source": "SAP", "name": "Cutting",
        "sequence": 2.0e1, "wip_limit": 3E0, "capacity_hours_per_day": 7.5}"#;
    send(&server, &key, Method::PUT, "/api-cells/sync", cell)
        .await
        .expect(201);
    let steps =
        operation(r#""cell_name": "Cutting", "sequence": 100e-2, "estimated_time_minutes": -0"#);
    let sent = job(&format!(
        r#""priority": 5.0, {}"#,
        part(&format!(r#""quantity": 1e2, {steps}"#))
    ));
    send(&server, &key, Method::PUT, "/api-jobs/sync", &sent)
        .await
        .expect(201);

    let whole = |record: &Value, field: &str, expected: u64| {
        assert_eq!(record[field].as_u64(), Some(expected), "{field}: {record}");
    };
    whole(&server.all("jobs", &key).await[0], "priority", 5);
    whole(&server.all("parts", &key).await[0], "quantity", 100);
    let stored = &server.all("operations", &key).await[0];
    whole(stored, "sequence", 1);
    whole(stored, "estimated_time_minutes", 0);
    let stored = &server.all("cells", &key).await[0];
    whole(stored, "sequence", 20);
    whole(stored, "wip_limit", 3);
    assert_eq!(
        stored["capacity_hours_per_day"], 7.5,
        "a real number stays real"
    );

    // The same values written as plain integers are the same record: nothing changes.
    let plain = sent
        .replace("5.0", "5")
        .replace("1e2", "100")
        .replace("100e-2", "1")
        .replace("-0", "0");
    let reply = send(&server, &key, Method::PUT, "/api-jobs/sync", &plain)
        .await
        .expect(200);
    assert_eq!(reply.data()["unchanged"], true, "{:#}", reply.body);
}

on_every_engine!(whole_numbers_written_with_a_fraction_or_an_exponent_are_stored);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fraction_or_a_number_out_of_range_gets_the_fields_range_message() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let cases = [
        ("priority", "5.5", ANY, "5.5"),
        ("priority", "-1", ANY, "-1"),
        ("priority", "2147483648", ANY, "2147483648"),
        ("priority", "1e400", ANY, "1e400"),
        ("priority", "1e10", ANY, "10000000000.0"),
        ("parts[0].quantity", "0", POSITIVE, "0"),
        ("parts[0].quantity", "-0", POSITIVE, "-0.0"),
        // The README's example.
        ("parts[0].quantity", "2.5", POSITIVE, "2.5"),
        ("parts[0].operations[0].sequence", "2.5", POSITIVE, "2.5"),
    ];
    for (field, sent, what, got) in cases {
        let body = job_with(field, sent);
        let reply = send(&server, &key, Method::PUT, "/api-jobs/sync", &body).await;
        let (sent_field, message) = refusal(reply);
        assert_eq!(sent_field.as_deref(), Some(field), "{body}");
        assert_eq!(message, format!("must be {what} (got {got})"), "{body}");
    }
    let cell = r#"{"external_id": "C", "external_source": "SAP", "name": "c", "wip_limit": 1.5}"#;
    let reply = send(&server, &key, Method::PUT, "/api-cells/sync", cell).await;
    let (field, message) = refusal(reply);
    assert_eq!(field.as_deref(), Some("wip_limit"));
    assert_eq!(message, format!("must be {ANY} (got 1.5)"));
    assert!(server.all("jobs", &key).await.is_empty());
    assert!(server.all("cells", &key).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_bulk_sync_a_fraction_rejects_its_record_alone() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let steps = operation(r#""cell_name": "c", "sequence": 0.5"#);
    let records = [
        job(r#""priority": 1e2"#),
        job(r#""priority": 5.5"#).replace("SO-1", "SO-2"),
        job(&part(&steps)).replace("SO-1", "SO-3"),
    ];
    let body = format!(r#"{{"jobs": [{}]}}"#, records.join(","));
    let reply = send(&server, &key, Method::POST, "/api-jobs/bulk-sync", &body)
        .await
        .expect(200);
    let data = reply.data();
    assert_eq!(data["created"], 1, "{data:#}");
    let results = data["results"].as_array().unwrap();
    assert_eq!(results[0]["action"], "created");
    assert_eq!(results[1]["external_id"], "SO-2");
    assert_eq!(results[1]["field"], "priority");
    assert_eq!(
        results[1]["error"],
        format!("priority: must be {ANY} (got 5.5)")
    );
    let field = "parts[0].operations[0].sequence";
    assert_eq!(results[2]["field"], field);
    assert_eq!(
        results[2]["error"],
        format!("{field}: must be {POSITIVE} (got 0.5)")
    );
    let stored = server.all("jobs", &key).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["priority"].as_u64(), Some(100));
}

/// serde's words for Rust types and its own refusals, none of which a client should read.
const RUST_WORDS: [&str; 14] = [
    "i64",
    "u64",
    "i32",
    "u32",
    "f64",
    "struct",
    "sequence",
    "map",
    "expected",
    "invalid type",
    "invalid value",
    "Payload",
    "floating point",
    "string \"",
];

/// How a refusal shows a value of the wrong kind: an object or a list by its kind, anything
/// else as JSON writes it.
fn shown(sent: &str) -> &str {
    match sent.as_bytes()[0] {
        b'{' => "an object",
        b'[' => "a list",
        _ => sent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_kind_of_value_is_refused_in_the_fields_own_words() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let statuses = "one of not_started, in_progress, completed, on_hold";
    let types = "one of tooling, fixture, mold, material, equipment";
    let records = "a list of records";
    let cases: [(&str, &str, &str, &[&str]); 24] = [
        (
            "jobs",
            "job_number",
            "text",
            &["7", "null", "true", "[\"1\"]"],
        ),
        ("jobs", "customer", "text", &["{}", "1.5"]),
        (
            "jobs",
            "due_date",
            "a date written YYYY-MM-DD",
            &["20240501", "[2024, 5, 1]"],
        ),
        (
            "jobs",
            "priority",
            ANY,
            &[r#""5""#, "true", r#"{"value": 5}"#, "[5]"],
        ),
        ("jobs", "status", statuses, &["1", "false"]),
        ("jobs", "metadata", "a JSON object", &[r#""x""#, "[1]", "7"]),
        (
            "jobs",
            "parts",
            records,
            &[r#"{"external_id": "P"}"#, r#""P""#],
        ),
        ("jobs", "children", "one of merge, replace", &["true"]),
        ("parts", "quantity", POSITIVE, &[r#""many""#, "[]"]),
        ("parts", "job_id", "a UUID", &["12", r#""not-a-uuid""#]),
        ("parts", "operations", records, &[r#""none""#, "{}"]),
        ("operations", "sequence", POSITIVE, &["[1]", r#""1""#]),
        ("operations", "estimated_time", ANY, &[r#""90""#]),
        ("operations", "cell_name", "text", &["5"]),
        ("operations", "cell_id", "a UUID", &["false"]),
        ("cells", "active", "true or false", &[r#""yes""#, "1", "{}"]),
        (
            "cells",
            "capacity_hours_per_day",
            "a number from 0 to 24",
            &[r#""8""#, "24.5"],
        ),
        ("cells", "sequence", ANY, &["{}"]),
        ("cells", "wip_limit", ANY, &[r#""3""#, "true"]),
        ("cells", "color", "a color written #rrggbb", &["3"]),
        ("resources", "type", types, &[r#"["mold"]"#]),
        ("resources", "external_source", "text", &["{}"]),
        // A part's or operation's source may be left out (a nested one takes its job's), but
        // `null` is not "left out".
        ("parts", "external_source", "text", &["null"]),
        ("operations", "external_source", "text", &["null"]),
    ];
    let base = |entity: &str| match entity {
        "jobs" => r#"{"external_id": "J", "external_source": "SAP", "job_number": "1"}"#,
        "parts" => r#"{"external_id": "P", "external_source": "SAP", "part_number": "p"}"#,
        "operations" => r#"{"external_id": "O", "external_source": "SAP", "operation_name": "o"}"#,
        _ => r#"{"external_id": "X", "external_source": "SAP", "name": "x"}"#,
    };
    for (entity, field, what, sent) in cases {
        for sent in sent {
            let mut body: Value = serde_json::from_str(base(entity)).unwrap();
            // Each record names its parent and cell once, in the form the case does not test.
            match entity {
                "parts" if field != "job_id" => body["job_external_id"] = "J".into(),
                "operations" if field != "cell_id" => body["cell_name"] = "c".into(),
                _ => {}
            }
            if entity == "operations" {
                body["part_external_id"] = "P".into();
            }
            body[field] = serde_json::from_str(sent).unwrap();
            let reply = server
                .put(&format!("/api-{entity}/sync"), &key, &body)
                .await;
            let (sent_field, message) = refusal(reply);
            assert_eq!(sent_field.as_deref(), Some(field), "{body}");
            let got = shown(sent);
            assert_eq!(message, format!("must be {what} (got {got})"), "{body}");
            for word in RUST_WORDS {
                assert!(!message.contains(word), "{word:?} in {message:?}");
            }
        }
    }
    for entity in ["jobs", "parts", "operations", "cells", "resources"] {
        assert!(server.all(entity, &key).await.is_empty(), "{entity}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_or_record_of_the_wrong_kind_is_refused_in_the_apis_words() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let object = "must be a JSON object";
    let cases = [
        (
            "/api-jobs/sync",
            "[1]".to_owned(),
            None,
            format!("{object} (got a list)"),
        ),
        (
            "/api-jobs/sync",
            r#""job""#.to_owned(),
            None,
            format!(r#"{object} (got "job")"#),
        ),
        (
            "/api-jobs/sync",
            job(r#""parts": ["P"]"#),
            Some("parts[0]"),
            format!(r#"{object} (got "P")"#),
        ),
        (
            "/api-cells/bulk-sync",
            "[]".to_owned(),
            None,
            format!("{object} with a `cells` list (got a list)"),
        ),
        (
            "/api-cells/bulk-sync",
            r#"{"cells": {"external_id": "C"}}"#.to_owned(),
            Some("cells"),
            "must be a list of records (got an object)".to_owned(),
        ),
    ];
    for (path, body, field, expected) in cases {
        let method = if path.ends_with("bulk-sync") {
            Method::POST
        } else {
            Method::PUT
        };
        let (sent_field, message) = refusal(send(&server, &key, method, path, &body).await);
        assert_eq!(sent_field.as_deref(), field, "{body}");
        assert_eq!(message, expected, "{body}");
    }
    let body = r#"{"cells": [5]}"#;
    let reply = send(&server, &key, Method::POST, "/api-cells/bulk-sync", body)
        .await
        .expect(200);
    assert_eq!(
        reply.data()["results"][0]["error"],
        format!("{object} (got 5)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_the_calendar_lacks_is_told_apart_from_a_badly_written_date() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let missing = "must be a date that exists;";
    let cases = [
        ("2024-02-30", format!("{missing} February 2024 has 29 days")),
        ("2023-02-29", format!("{missing} February 2023 has 28 days")),
        ("2024-04-31", format!("{missing} April 2024 has 30 days")),
        ("2024-13-01", "must be a date written YYYY-MM-DD".to_owned()),
        ("05/01/2024", "must be a date written YYYY-MM-DD".to_owned()),
    ];
    for (date, expected) in cases {
        let body = job(&format!(r#""due_date": "{date}""#));
        let reply = send(&server, &key, Method::PUT, "/api-jobs/sync", &body).await;
        let (field, message) = refusal(reply);
        assert_eq!(field.as_deref(), Some("due_date"));
        assert_eq!(message, format!("{expected} (got \"{date}\")"));
    }
    let leap_day = job(r#""due_date": "2024-02-29""#);
    send(&server, &key, Method::PUT, "/api-jobs/sync", &leap_day)
        .await
        .expect(201);
}

/// A query parameter of the wrong kind is refused naming the parameter and what it must be,
/// in the API's words, never a decoder's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_are_named() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let cases = [
        (
            "/api-jobs?limit=abc",
            "limit",
            "must be a whole number written in digits (got \"abc\")",
        ),
        (
            "/api-jobs?offset=-1",
            "offset",
            "must be a whole number written in digits (got \"-1\")",
        ),
        (
            "/api-sync/imports?limit=99999999999",
            "limit",
            "is too large (got \"99999999999\")",
        ),
        (
            "/api-jobs?offset=9223372036854775807",
            "offset",
            "is too large (got \"9223372036854775807\")",
        ),
        (
            "/api-jobs?include_deleted=maybe",
            "include_deleted",
            "must be true or false (got \"maybe\")",
        ),
        (
            "/api-cells/sync?dry_run=ja",
            "dry_run",
            "must be true or false (got \"ja\")",
        ),
    ];
    for (path, field, message) in cases {
        let reply = if path.contains("/sync") {
            let cell = r#"{"external_id": "C-1", "external_source": "SAP", "name": "c"}"#;
            send(&server, &key, Method::PUT, path, cell).await
        } else {
            server.get(path, &key).await
        };
        let reply = reply.expect(400);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR");
        assert_eq!(
            reply.body["error"]["details"][0],
            serde_json::json!({"field": field, "message": message}),
            "{path}"
        );
        assert!(!reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deserialize"));
    }
    let unknown = server.get("/api-jobs?colour=red", &key).await.expect(400);
    assert!(unknown.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown field `colour`"));
}
