//! `metadata`, the ERP's own JSON: its numbers kept exactly or refused, and its nesting held
//! to what every page and event holding it can hand back.

use reqwest::Method;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;
use crate::values::{job, job_with, refusal, send};

/// `metadata` numbers are kept exactly, and alike on both engines: a whole number is an integer
/// however it is written (so a re-send of `1` after `1.0` is unchanged), an integer up to 64
/// bits comes back digit for digit, and a number the parser could only keep as an
/// approximation (past 64 bits, or past 2^53 written with a fraction or an exponent) is
/// refused with what to do instead.
async fn metadata_numbers_are_kept_exactly_or_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let sent = job(
        r#""metadata": {"w": 1.0, "e": 2e3, "f": 0.25, "max": 18446744073709551615,
            "min": -9223372036854775808}"#,
    );
    send(&server, &key, Method::PUT, "/api-jobs/sync", &sent)
        .await
        .expect(201);
    let stored = &server.all("jobs", &key).await[0]["metadata"];
    assert_eq!(stored["w"].as_i64(), Some(1), "{stored}");
    assert_eq!(stored["e"].as_i64(), Some(2000), "{stored}");
    assert_eq!(stored["f"].as_f64(), Some(0.25), "{stored}");
    assert_eq!(stored["max"].as_u64(), Some(u64::MAX), "{stored}");
    assert_eq!(stored["min"].as_i64(), Some(i64::MIN), "{stored}");

    let plain = sent.replace("1.0", "1").replace("2e3", "2000");
    let reply = send(&server, &key, Method::PUT, "/api-jobs/sync", &plain)
        .await
        .expect(200);
    assert_eq!(reply.data()["unchanged"], true, "{:#}", reply.body);

    for long in ["123456789012345678901", "123456789012345678.0", "1e19"] {
        let sent = job(&format!(r#""metadata": {{"erp_id": {long}}}"#));
        let reply = send(&server, &key, Method::PUT, "/api-jobs/sync", &sent).await;
        let (field, message) = refusal(reply);
        assert_eq!(field.as_deref(), Some("metadata.erp_id"), "{long}");
        assert!(message.contains("send it as a string"), "{long}: {message}");
    }
    let stored = &server.all("jobs", &key).await[0]["metadata"];
    assert_eq!(
        stored["w"].as_i64(),
        Some(1),
        "the refused sync wrote nothing: {stored}"
    );
}

on_every_engine!(metadata_numbers_are_kept_exactly_or_refused);

/// `metadata` nests at most 64 levels: what the server takes it hands back in pages and
/// events that a reader with the common 128-level limit can parse (a 126-level `metadata` was
/// taken, and the feed page holding it could not be read, nor its `next_cursor`). Decided
/// before the store is asked: once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_nests_at_most_64_levels() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let nested = |levels: usize| {
        format!(
            "{}{}",
            r#"{"k":"#.repeat(levels - 1) + "{}",
            "}".repeat(levels - 1)
        )
    };
    let cell = r#"{"external_id": "C", "external_source": "SAP", "name": "c"}"#;
    send(&server, &key, Method::PUT, "/api-cells/sync", cell)
        .await
        .expect(201);
    let deepest = "parts[0].operations[0].metadata";
    let bulk = |levels| format!(r#"{{"jobs": [{}]}}"#, job_with(deepest, &nested(levels)));
    send(
        &server,
        &key,
        Method::POST,
        "/api-jobs/bulk-sync",
        &bulk(64),
    )
    .await
    .expect(200);
    // Each page is parsed by serde_json, whose limit is 128 levels (`Reply` fails otherwise).
    for path in ["/api-events?limit=1000", "/api-operations"] {
        let page = server
            .send(Method::GET, path, Some(&key), None, None)
            .await
            .expect(200);
        assert!(page.body.to_string().contains(r#"{"k":{"k":"#), "{path}");
    }

    let reply = send(
        &server,
        &key,
        Method::PUT,
        "/api-jobs/sync",
        &job_with("metadata", &nested(65)),
    )
    .await;
    let (field, message) = refusal(reply);
    assert!(field.unwrap().starts_with("metadata.k.k"));
    assert!(message.contains("nests deeper than 64 levels"), "{message}");
}
