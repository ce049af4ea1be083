//! Errors the store decides, on every engine: a bulk call over the limit writes nothing,
//! unknown and ambiguous references are 422 naming the field, and the rate limit answers 429.

use reqwest::Method;
use serde_json::json;

use crate::common::{Engine, Options, TestServer};
use crate::errors::job;
use crate::on_every_engine;

async fn more_than_1000_records_writes_nothing(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let jobs: Vec<_> = (0..1001).map(|i| job(&format!("SO-{i}"))).collect();
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": jobs}))
        .await
        .expect(400);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR");
    assert_eq!(reply.body["error"]["details"][0]["field"], "jobs");
    assert!(server.all("jobs", &key).await.is_empty());
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": jobs[..1000]}))
        .await
        .expect(200);
    assert_eq!(reply.data()["created"], 1000);
}

async fn unknown_references_are_unprocessable(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let part = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "NOPE", "part_number": "p"});
    let reply = server.put("/api-parts/sync", &key, &part).await.expect(422);
    assert_eq!(reply.error_code(), "REFERENCE_NOT_FOUND");
    assert_eq!(
        reply.body["error"]["details"][0]["field"],
        "job_external_id"
    );
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("NOPE"));

    server
        .put("/api-jobs/sync", &key, &job("J"))
        .await
        .expect(201);
    let in_other_source = json!({"external_id": "P", "external_source": "NetSuite", "job_external_id": "J", "part_number": "p"});
    let reply = server
        .put("/api-parts/sync", &key, &in_other_source)
        .await
        .expect(422);
    assert_eq!(
        reply.error_code(),
        "REFERENCE_NOT_FOUND",
        "references stay inside the source"
    );

    let operation = json!({"external_id": "O", "external_source": "SAP", "part_external_id": "NOPE",
        "operation_name": "o", "cell_name": "Cutting"});
    let reply = server
        .put("/api-operations/sync", &key, &operation)
        .await
        .expect(422);
    assert_eq!(
        reply.body["error"]["details"][0]["field"],
        "part_external_id"
    );

    let part = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "J", "part_number": "p"});
    server.put("/api-parts/sync", &key, &part).await.expect(201);
    let operation = json!({"external_id": "O", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "o", "cell_name": "Nowhere"});
    let reply = server
        .put("/api-operations/sync", &key, &operation)
        .await
        .expect(422);
    assert_eq!(reply.body["error"]["details"][0]["field"], "cell_name");
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Nowhere"));
    assert!(server.all("operations", &key).await.is_empty());
}

async fn a_name_shared_by_two_cells_is_ambiguous(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    for source in ["SAP", "NetSuite"] {
        let cell = json!({"external_id": "WC-1", "external_source": source, "name": "Cutting"});
        server.put("/api-cells/sync", &key, &cell).await.expect(201);
    }
    let retired = json!({"external_id": "WC-2", "external_source": "SAP", "name": "Welding", "active": false});
    server
        .put("/api-cells/sync", &key, &retired)
        .await
        .expect(201);
    server
        .put("/api-jobs/sync", &key, &job("J"))
        .await
        .expect(201);
    let part = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "J", "part_number": "p"});
    server.put("/api-parts/sync", &key, &part).await.expect(201);

    let operation = json!({"external_id": "O", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "o", "cell_name": "Cutting"});
    let reply = server
        .put("/api-operations/sync", &key, &operation)
        .await
        .expect(422);
    assert_eq!(reply.error_code(), "AMBIGUOUS_REFERENCE");
    assert_eq!(reply.body["error"]["details"][0]["field"], "cell_name");

    let inactive = json!({"external_id": "O", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "o", "cell_name": "Welding"});
    let reply = server
        .put("/api-operations/sync", &key, &inactive)
        .await
        .expect(422);
    assert_eq!(
        reply.error_code(),
        "REFERENCE_NOT_FOUND",
        "inactive cells take no work"
    );
    // Said as it is: the cell exists (it read "sync the cell first").
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(r#"the cell named "Welding" is inactive"#),
        "{message}"
    );
}

/// The ERP re-sends its whole routing nightly: an operation in a cell deactivated since stays
/// there (it was refused, every night, as if the ERP had moved it), while no operation may be
/// put in an inactive cell.
async fn an_operation_keeps_the_inactive_cell_it_is_in(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = |active: bool| json!({"external_id": "WC-9", "external_source": "SAP", "name": "Paint", "active": active});
    let paint = server
        .put("/api-cells/sync", &key, &cell(true))
        .await
        .expect(201);
    let paint_id = paint.data()["id"].as_str().unwrap().to_string();
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "J",
        "parts": [{"external_id": "P", "part_number": "p", "operations": [
            {"external_id": "O", "operation_name": "o", "cell_name": "Paint"}]}]});
    server.put("/api-jobs/sync", &key, &job).await.expect(201);
    server
        .put("/api-cells/sync", &key, &cell(false))
        .await
        .expect(200);

    let again = server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": [job]}))
        .await
        .expect(200);
    assert_eq!(again.data()["errors"], 0, "{}", again.body);
    assert_eq!(again.data()["unchanged"], 1, "{}", again.body);

    let renamed = json!({"external_id": "O", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "o2", "cell_id": paint_id});
    server
        .put("/api-operations/sync", &key, &renamed)
        .await
        .expect(200);
    let stored = server
        .get("/api-operations/by-external/SAP/O", &key)
        .await
        .expect(200);
    assert_eq!(stored.data()["cell_id"], paint_id.as_str());
    assert_eq!(stored.data()["operation_name"], "o2");

    let new = json!({"external_id": "O-NEW", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "n", "cell_name": "Paint"});
    let reply = server
        .put("/api-operations/sync", &key, &new)
        .await
        .expect(422);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("is inactive"), "{message}");
    let by_id = json!({"external_id": "O-NEW", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "n", "cell_id": paint_id});
    server
        .put("/api-operations/sync", &key, &by_id)
        .await
        .expect(422);
}

async fn rate_limit_answers_429_with_headers(engine: Engine) {
    let options = Options {
        rate_limit_per_minute: 3,
        ..Options::default()
    };
    let server = TestServer::start_with(engine, options).await;
    let key = server.key("acme").await;
    let other = server.key("acme").await;
    let first = server
        .put("/api-jobs/sync", &key, &job("J"))
        .await
        .expect(201);
    assert_eq!(first.header("x-ratelimit-limit"), Some("3"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("2"));
    let reset: u64 = first.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        reset > now && reset <= now + 60,
        "reset {reset} is an epoch second within a minute"
    );

    let invalid = server
        .put("/api-jobs/sync", &key, &json!({}))
        .await
        .expect(400);
    assert_eq!(
        invalid.header("x-ratelimit-remaining"),
        Some("1"),
        "errors carry the headers too"
    );
    server.get("/api-jobs", &key).await.expect(200);
    let limited = server
        .put("/api-jobs/sync", &key, &job("K"))
        .await
        .expect(429);
    assert_eq!(limited.error_code(), "RATE_LIMITED");
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(
        server.all("jobs", &other).await.len(),
        1,
        "K was not written; other keys go on"
    );
}

/// A URL whose path or query decodes to a NUL or to bytes that are not UTF-8 is a 400 in the
/// error envelope naming the piece, on every route and engine: PostgreSQL, which stores no NUL
/// in text, used to answer 500, and a path that was not UTF-8 got a plain-text answer.
async fn urls_that_decode_to_no_text_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cases = [
        (Method::GET, "/api-cells/by-external/SAP/a%00b", "path"),
        (Method::DELETE, "/api-cells/by-external/S%00/a", "path"),
        (
            Method::POST,
            "/api-operations/by-external/SAP/a%00/start",
            "path",
        ),
        (Method::POST, "/api-jobs/by-external/%00/x/start", "path"),
        (Method::GET, "/api-cells/%FF", "path"),
        (Method::GET, "/functions/v1/api-events/evt_%00", "path"),
        (Method::GET, "/api-cells?search=%00", "search"),
        (Method::GET, "/api-cells?external_id=a%00", "external_id"),
        (Method::GET, "/api-operations?cell_name=%00", "cell_name"),
        (
            Method::GET,
            "/api-parts?job_external_id=%00",
            "job_external_id",
        ),
        (
            Method::GET,
            "/api-events?external_source=%00",
            "external_source",
        ),
        (Method::GET, "/api-cells?search=%FF", "search"),
    ];
    for (method, path, field) in cases {
        let reply = server
            .send(method.clone(), path, Some(&key), None, None)
            .await;
        let reply = reply.expect(400);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{method} {path}");
        assert_eq!(
            reply.body["error"]["details"][0]["field"], field,
            "{method} {path}"
        );
    }
    // Text that decodes well still reaches its route.
    server
        .get("/api-cells/by-external/SAP/caf%C3%A9%2F1", &key)
        .await
        .expect(404);
}

on_every_engine!(
    urls_that_decode_to_no_text_are_refused,
    more_than_1000_records_writes_nothing,
    unknown_references_are_unprocessable,
    a_name_shared_by_two_cells_is_ambiguous,
    an_operation_keeps_the_inactive_cell_it_is_in,
    rate_limit_answers_429_with_headers,
);
