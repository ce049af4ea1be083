//! `eryxon push` on what is not a CSV file or does not fit one call: JSON and NDJSON exports
//! sent as they are, and a chunk over the server's body limit split until it fits.

use std::fmt::Write as _;

use tempfile::TempDir;

use crate::common::{Engine, Options, TestServer};
use crate::on_every_engine;
use crate::push::{exit_code, push_files, rejected_lines, summary, text, total};

async fn json_and_ndjson_files_are_sent_as_they_are(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let dir = TempDir::new().unwrap();
    let jobs = dir.path().join("export.json");
    std::fs::write(
        &jobs,
        r#"{"jobs": [
  {"external_id": "J1", "external_source": "ERP", "job_number": "1",
   "metadata": {"erp": {"plant": 7}},
   "parts": [{"external_id": "J1-P1", "part_number": "X", "quantity": 2}]},
  {"external_id": "J2", "external_source": "ERP", "job_number": "2"},
  {"external_id": "J3", "external_source": "ERP", "job_number": "3", "priority": -1}
]}"#,
    )
    .unwrap();
    let parts = dir.path().join("parts.ndjson");
    std::fs::write(
        &parts,
        "{\"external_id\":\"J2-P1\",\"external_source\":\"ERP\",\"job_external_id\":\"J2\",\"part_number\":\"Y\"}\n\
         {not json}\n\
         {\"external_id\":\"J9-P1\",\"external_source\":\"ERP\",\"job_external_id\":\"J9\",\"part_number\":\"Z\"}\n",
    )
    .unwrap();
    let output = push_files(&server, &key, &[&parts, &jobs]).await;
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 1, "{output:?}");
    let counts = summary(&stdout);
    assert_eq!(counts["jobs"], [3, 2, 0, 0, 1], "{stdout}");
    assert_eq!(counts["parts"], [3, 1, 0, 0, 2], "{stdout}");
    let rejected = rejected_lines(&stdout);
    assert!(
        rejected[0].contains("export.json:6  J3  VALIDATION_ERROR  priority: "),
        "the line the record starts on: {stdout}"
    );
    assert!(
        rejected[1].contains("parts.ndjson:2  -  PARSE_ERROR  invalid JSON"),
        "{stdout}"
    );
    assert!(
        rejected[2].contains("parts.ndjson:3  J9-P1  REFERENCE_NOT_FOUND"),
        "{stdout}"
    );
    let jobs = server.all("jobs", &key).await;
    let job = jobs.iter().find(|j| j["external_id"] == "J1").unwrap();
    assert_eq!(job["metadata"]["erp"]["plant"], 7);
    assert_eq!(server.all("parts", &key).await.len(), 2);
}

async fn a_chunk_over_the_body_limit_is_split_until_it_fits(engine: Engine) {
    let options = Options {
        max_body_bytes: 4096,
        ..Options::default()
    };
    let server = TestServer::start_with(engine, options).await;
    let key = server.key("acme").await;
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("cells.csv");
    let mut csv = String::from("external_id,external_source,name,notes\n");
    for i in 1..=60 {
        let notes = if i == 42 {
            "y".repeat(5000)
        } else {
            "x".repeat(200)
        };
        writeln!(csv, "C{i},ERP,Cell {i},{notes}").unwrap();
    }
    std::fs::write(&path, csv).unwrap();
    let output = push_files(&server, &key, &[&path]).await;
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 1, "{output:?}");
    assert_eq!(summary(&stdout)["cells"], [60, 59, 0, 0, 1], "{stdout}");
    let rejected = rejected_lines(&stdout);
    assert_eq!(rejected.len(), 1, "{stdout}");
    assert!(
        rejected[0].contains("cells.csv:43  C42  PAYLOAD_TOO_LARGE"),
        "{stdout}"
    );
    assert_eq!(total(&server, "cells", &key).await, 59);
    // The first 413 taught the run the limit: no half it could tell was too large, nor C42
    // alone, was sent to be refused again, each leaving a failed call in the history.
    let failed = server
        .get("/api-sync/imports?outcome=failed", &key)
        .await
        .expect(200);
    assert_eq!(failed.data()["pagination"]["total"], 1, "{}", failed.body);
    assert_eq!(failed.data()["imports"][0]["status"], 413);
}

/// A run whose records kept what the floor owns says so: the ERP's status did not arrive.
async fn a_push_says_what_the_floor_kept(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = crate::floor::routing(&server, &key).await;
    let start = format!("/api-operation-lifecycle/start?id={o1}");
    server
        .post(&start, &key, &serde_json::json!({}))
        .await
        .expect(200);
    let dir = TempDir::new().unwrap();
    let jobs = dir.path().join("jobs.json");
    std::fs::write(
        &jobs,
        r#"{"jobs": [{"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
  "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 10, "operations": [
    {"external_id": "O1", "operation_name": "Cut", "sequence": 1, "cell_name": "Saw",
     "status": "completed"},
    {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw",
     "status": "completed"}]}]}]}"#,
    )
    .unwrap();
    let output = push_files(&server, &key, &[&jobs]).await;
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 0, "{output:?}");
    assert!(
        stdout.contains("1 record kept a value the shop floor owns (its status)"),
        "{stdout}"
    );
}

on_every_engine!(
    a_push_says_what_the_floor_kept,
    json_and_ndjson_files_are_sent_as_they_are,
    a_chunk_over_the_body_limit_is_split_until_it_fits,
);
