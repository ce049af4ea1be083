//! List filters, sorting and cursor walking.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

fn external_ids(reply: &crate::common::Reply, entity: &str) -> Vec<String> {
    reply.data()[entity]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["external_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn seed(server: &TestServer, key: &str) {
    let cells = json!({"cells": [
        {"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"},
        {"external_id": "WC-2", "external_source": "SAP", "name": "Bending"}]});
    server
        .post("/api-cells/bulk-sync", key, &cells)
        .await
        .expect(200);
    let jobs = json!({"jobs": [
        {"external_id": "SO-1", "external_source": "SAP", "job_number": "JOB-100", "customer": "Acme Corp",
         "status": "in_progress", "priority": 3, "parts": [
            {"external_id": "P-1", "part_number": "BRACKET", "material": "Steel 50%", "operations": [
                {"external_id": "O-1", "operation_name": "Laser", "cell_name": "Cutting", "sequence": 1},
                {"external_id": "O-2", "operation_name": "Bend", "cell_name": "Bending", "sequence": 2}]}]},
        {"external_id": "SO-2", "external_source": "SAP", "job_number": "JOB-200", "customer": "Globex",
         "priority": 1, "parts": [
            {"external_id": "P-2", "part_number": "PLATE", "material": "Alu", "operations": [
                {"external_id": "O-3", "operation_name": "Laser", "cell_name": "Cutting", "sequence": 1}]}]},
        {"external_id": "SO-3", "external_source": "NetSuite", "job_number": "X_300", "customer": "acme gmbh",
         "priority": 2}]});
    server
        .post("/api-jobs/bulk-sync", key, &jobs)
        .await
        .expect(200);
}

async fn every_filter_narrows_the_list(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    seed(&server, &key).await;
    let cases: &[(&str, &str, &[&str])] = &[
        ("jobs", "external_id=SO-1,SO-3", &["SO-1", "SO-3"]),
        // Spaces are part of an identity: `SO-1 ` is not `SO-1`.
        ("jobs", "external_id=SO-1%20,SO-2", &["SO-2"]),
        ("jobs", "external_source=NetSuite", &["SO-3"]),
        ("jobs", "search=ACME", &["SO-1", "SO-3"]),
        ("jobs", "search=X_", &["SO-3"]),
        ("jobs", "search=200", &["SO-2"]),
        ("jobs", "status=in_progress", &["SO-1"]),
        (
            "jobs",
            "sort=priority&order=desc",
            &["SO-1", "SO-3", "SO-2"],
        ),
        ("jobs", "sort=customer", &["SO-1", "SO-2", "SO-3"]),
        ("parts", "job_external_id=SO-2", &["P-2"]),
        ("parts", "search=50%", &["P-1"]),
        ("operations", "part_external_id=P-1", &["O-1", "O-2"]),
        ("operations", "cell_name=Cutting", &["O-1", "O-3"]),
        (
            "operations",
            "cell_name=Cutting&sort=external_id&order=desc",
            &["O-3", "O-1"],
        ),
        ("cells", "search=bend", &["WC-2"]),
    ];
    for (entity, filter, expected) in cases {
        let reply = server
            .get(&format!("/api-{entity}?{filter}"), &key)
            .await
            .expect(200);
        assert_eq!(external_ids(&reply, entity), *expected, "{entity}?{filter}");
        assert_eq!(reply.data()["pagination"]["total"], expected.len());
    }
    let listed = server
        .get("/api-jobs?external_id=SO-1", &key)
        .await
        .expect(200);
    let job = &listed.data()["jobs"][0];
    for field in [
        "external_id",
        "external_source",
        "synced_at",
        "created_at",
        "updated_at",
    ] {
        assert!(job[field].is_string(), "{field} on every record");
    }
}

async fn updated_since_finds_recent_changes(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    seed(&server, &key).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mark = time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let change = json!({"external_id": "SO-2", "external_source": "SAP", "job_number": "JOB-200", "priority": 9});
    server
        .put("/api-jobs/sync", &key, &change)
        .await
        .expect(200);
    let path = format!("/api-jobs?updated_since={}", mark.replace('+', "%2B"));
    let reply = server.get(&path, &key).await.expect(200);
    assert_eq!(external_ids(&reply, "jobs"), ["SO-2"]);
}

/// A page sorted by anything but creation order gives no `next_cursor` (the cursor walks in
/// creation order); the same page in creation order does (decided before the store: once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sorted_page_gives_no_cursor() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    for i in 0..3 {
        let cell = json!({"external_id": format!("C-{i}"), "external_source": "SAP",
            "name": format!("cell {}", 3 - i)});
        server.put("/api-cells/sync", &key, &cell).await.expect(201);
    }
    let sorted = server
        .get("/api-cells?limit=2&sort=name", &key)
        .await
        .expect(200);
    assert!(
        sorted.data()["pagination"].get("next_cursor").is_none(),
        "{}",
        sorted.body
    );
    let plain = server.get("/api-cells?limit=2", &key).await.expect(200);
    let cursor = plain.data()["pagination"]["next_cursor"].as_str().unwrap();
    let next = server
        .get(&format!("/api-cells?limit=2&cursor={cursor}"), &key)
        .await
        .expect(200);
    assert_eq!(next.data()["cells"][0]["external_id"], "C-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filters_are_refused() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    for (path, field) in [
        ("/api-jobs?status=done", "status"),
        ("/api-cells?status=available", "status"),
        ("/api-jobs?updated_since=yesterday", "updated_since"),
        ("/api-jobs?sort=metadata", "sort"),
        ("/api-jobs?order=sideways", "order"),
        ("/api-jobs?job_external_id=SO-1", "job_external_id"),
        ("/api-parts?cell_name=Cutting", "cell_name"),
        ("/api-jobs?cursor=nonsense", "cursor"),
        (
            "/api-jobs?cursor=0192f7c4a3b27000800000000000abcd&offset=10",
            "cursor",
        ),
        (
            "/api-jobs?cursor=0192f7c4a3b27000800000000000abcd&sort=priority",
            "cursor",
        ),
        // A blank filter matched every record (`external_id`) or none (the others).
        ("/api-parts?external_id=", "external_id"),
        ("/api-parts?external_id=,,,", "external_id"),
        ("/api-parts?external_source=", "external_source"),
        ("/api-parts?job_external_id=", "job_external_id"),
        ("/api-operations?part_external_id=", "part_external_id"),
        ("/api-operations?cell_name=", "cell_name"),
    ] {
        let reply = server.get(path, &key).await.expect(400);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{path}");
        assert_eq!(reply.body["error"]["details"][0]["field"], field, "{path}");
    }
}

async fn a_cursor_walks_2500_records_without_gaps_or_repeats(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    for chunk in 0..3 {
        let cells: Vec<Value> = (chunk * 1000..((chunk + 1) * 1000).min(2500))
            .map(|i| json!({"external_id": format!("C{i:05}"), "external_source": "SAP", "name": format!("c{i}")}))
            .collect();
        server
            .post("/api-cells/bulk-sync", &key, &json!({"cells": cells}))
            .await
            .expect(200);
    }
    for order in ["asc", "desc"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api-cells?limit=700&order={order}&cursor={c}"),
                None => format!("/api-cells?limit=700&order={order}"),
            };
            let reply = server.get(&path, &key).await.expect(200);
            assert_eq!(reply.data()["pagination"]["total"], 2500);
            seen.extend(external_ids(&reply, "cells"));
            match reply.data()["pagination"]["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(seen.len() <= 2500, "the walk ends");
        }
        assert_eq!(seen.len(), 2500, "{order}: no gaps");
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            2500,
            "{order}: no repeats"
        );
        let mut sorted = seen.clone();
        sorted.sort();
        if order == "desc" {
            sorted.reverse();
        }
        assert_eq!(seen, sorted, "{order}: in creation order");
    }
}

/// `search` ignores case in every script, alike on both engines, and still takes `%`, `_`,
/// `\\` and regular-expression characters literally.
async fn search_folds_case_in_every_script(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let job = |id: &str, number: &str, customer: &str| json!({"external_id": id, "external_source": "SAP", "job_number": number, "customer": customer});
    let jobs = json!({"jobs": [
        job("DE-1", "JOB-1", "MÜLLER GmbH"),
        job("DE-2", "JOB-2", "Ärger & Söhne"),
        job("GR-1", "ΣΟΦΙΑ-2", "Οδυσσεύς ΑΕ"),
        job("FR-1", "JOB-3", "Café Ñandú"),
        job("RX-1", "A+B (1.5)", "x*y"),
        job("EN-1", "JOB-4", "Mueller Ltd")]});
    server
        .post("/api-jobs/bulk-sync", &key, &jobs)
        .await
        .expect(200);
    let cases: &[(&str, &[&str])] = &[
        ("müller", &["DE-1"]),
        ("MÜLLER", &["DE-1"]),
        ("ärger", &["DE-2"]),
        ("SÖHNE", &["DE-2"]),
        ("σοφια", &["GR-1"]),
        ("ΟΔΥΣΣ", &["GR-1"]),
        ("CAFÉ", &["FR-1"]),
        ("ñandú", &["FR-1"]),
        ("cafe", &[]),
        ("MUELLER", &["EN-1"]),
        ("a+b (1.5)", &["RX-1"]),
        ("X*Y", &["RX-1"]),
        ("job-", &["DE-1", "DE-2", "FR-1", "EN-1"]),
    ];
    for (text, expected) in cases {
        let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
        let path = format!("/api-jobs?search={encoded}");
        let reply = server.get(&path, &key).await.expect(200);
        assert_eq!(external_ids(&reply, "jobs"), *expected, "search={text}");
    }
    let long = "x".repeat(256);
    let refused = server
        .get(&format!("/api-jobs?search={long}"), &key)
        .await
        .expect(400);
    assert_eq!(refused.error_code(), "VALIDATION_ERROR");
}

// Only what the store decides can differ between engines: the tests decided before the
// store is asked (routing, decoding, validation, headers) run once, on SQLite.
on_every_engine!(
    search_folds_case_in_every_script,
    every_filter_narrows_the_list,
    updated_since_finds_recent_changes,
    a_cursor_walks_2500_records_without_gaps_or_repeats,
);
