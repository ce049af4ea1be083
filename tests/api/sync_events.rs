//! What syncs write to the event log: one event per changed record (nested children too), the
//! fields an update changed, tombstones for children a replace left out, one `sync.completed`
//! per call that changed or refused something, and nothing for an unchanged re-send or a dry run.

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

/// Every event of the tenant after `cursor`, and the cursor to read after next.
async fn events_after(server: &TestServer, key: &str, cursor: &str) -> (Vec<Value>, String) {
    let after = if cursor.is_empty() {
        String::new()
    } else {
        format!("&after={cursor}")
    };
    let page = server
        .get(&format!("/api-events?limit=1000{after}"), key)
        .await
        .expect(200);
    let data = page.data();
    assert_eq!(data["has_more"], false);
    (
        data["events"].as_array().unwrap().clone(),
        data["next_cursor"].as_str().unwrap_or(cursor).to_owned(),
    )
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{} {}", e["type"].as_str().unwrap(), e["external_id"]))
        .collect()
}

fn job(customer: &str, operations: &[&str]) -> Value {
    let operations: Vec<Value> = operations
        .iter()
        .enumerate()
        .map(|(i, ext)| {
            json!({"external_id": ext, "operation_name": format!("Step {i}"),
                   "sequence": i + 1, "cell_name": "Saw"})
        })
        .collect();
    json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "customer": customer,
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 10,
                   "operations": operations}]})
}

async fn a_sync_writes_an_event_per_change(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Saw"});
    server.put("/api-cells/sync", &key, &cell).await.expect(201);
    let created = server
        .put("/api-jobs/sync", &key, &job("ACME", &["O1", "O2"]))
        .await
        .expect(201);
    let (events, cursor) = events_after(&server, &key, "").await;
    assert_eq!(
        types(&events),
        [
            "cell.created \"WC-1\"",
            "sync.completed null",
            "job.created \"J\"",
            "part.created \"P\"",
            "operation.created \"O1\"",
            "operation.created \"O2\"",
            "sync.completed null",
        ]
    );
    // The record as GET shows it (a job without its children, which have their own events).
    let job_id = created.data()["id"].as_str().unwrap();
    let got = server
        .get(&format!("/api-jobs/{job_id}"), &key)
        .await
        .expect(200);
    let mut shown = got.data().clone();
    shown.as_object_mut().unwrap().remove("parts");
    assert_eq!(events[2]["data"], shown);
    assert_eq!(events[2]["record_id"], job_id);
    assert_eq!(events[2]["entity"], "job");
    let completed = &events[6]["data"];
    assert_eq!(completed["endpoint"], "PUT /api-jobs/sync");
    assert_eq!(completed["created"], 1, "{completed}");
    let import = completed["import_id"].as_str().unwrap();
    server
        .get(&format!("/api-sync/imports/{import}"), &key)
        .await
        .expect(200);

    // An unchanged re-send and a dry run write nothing.
    let same = job("ACME", &["O1", "O2"]);
    server.put("/api-jobs/sync", &key, &same).await.expect(200);
    let changed = job("Globex", &["O1", "O2"]);
    server
        .put("/api-jobs/sync?dry_run=true", &key, &changed)
        .await
        .expect(200);
    let (events, cursor) = events_after(&server, &key, &cursor).await;
    assert_eq!(types(&events), Vec::<String>::new());

    // An update names the fields it changed.
    server
        .put("/api-jobs/sync", &key, &changed)
        .await
        .expect(200);
    let (events, cursor) = events_after(&server, &key, &cursor).await;
    assert_eq!(types(&events), ["job.updated \"J\"", "sync.completed null"]);
    assert_eq!(events[0]["data"]["changed_fields"], json!(["customer"]));
    assert_eq!(events[0]["data"]["customer"], "Globex");

    // A replace that leaves O2 out deletes it: a tombstone.
    server
        .put(
            "/api-jobs/sync?children=replace",
            &key,
            &job("Globex", &["O1"]),
        )
        .await
        .expect(200);
    let (events, cursor) = events_after(&server, &key, &cursor).await;
    assert_eq!(
        types(&events),
        ["operation.deleted \"O2\"", "sync.completed null"]
    );
    assert_eq!(events[0]["data"]["external_source"], "SAP");

    // Sent again, it comes back: restored.
    server
        .put("/api-jobs/sync", &key, &job("Globex", &["O1", "O2"]))
        .await
        .expect(200);
    let (events, cursor) = events_after(&server, &key, &cursor).await;
    assert_eq!(
        types(&events),
        ["operation.restored \"O2\"", "sync.completed null"]
    );

    // A bulk call writes one sync.completed for all its records, refused ones counted.
    let bulk = json!({"cells": [
        {"external_id": "WC-2", "external_source": "SAP", "name": "Lathe"},
        {"external_id": "WC-3", "external_source": "SAP"}]});
    server
        .post("/api-cells/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    let (events, _) = events_after(&server, &key, &cursor).await;
    assert_eq!(
        types(&events),
        ["cell.created \"WC-2\"", "sync.completed null"]
    );
    assert_eq!(events[1]["data"]["errors"], 1);
}

/// A bulk call whose every record is refused before the store sees it still says so once in
/// the feed, naming its history entry; its dry run does not.
async fn a_call_refused_record_by_record_says_so_in_the_feed(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let invalid = json!({"external_id": "Z", "external_source": "SAP"});
    let bulk = json!({"cells": [invalid]});
    server
        .post("/api-cells/bulk-sync?dry_run=true", &key, &bulk)
        .await
        .expect(200);
    let (events, cursor) = events_after(&server, &key, "").await;
    assert!(events.is_empty(), "{events:?}");
    let reply = server
        .post("/api-cells/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    assert_eq!(reply.data()["errors"], 1);
    let (events, _) = events_after(&server, &key, &cursor).await;
    assert_eq!(types(&events), ["sync.completed null"], "{events:?}");
    assert_eq!(events[0]["data"]["errors"], 1);
    let import = events[0]["data"]["import_id"].as_str().unwrap();
    server
        .get(&format!("/api-sync/imports/{import}"), &key)
        .await
        .expect(200);
}

/// Rows the floor acted on store no fingerprint on SQLite. Of two such operations in one call,
/// the one the ERP re-sequenced was answered unchanged, with no event, while its new sequence
/// was written: a feed reader never learnt it.
async fn a_changed_floor_row_beside_an_unchanged_one_says_so(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = crate::floor::routing(&server, &key).await;
    for id in [&o1, &o2] {
        server
            .post(
                &format!("/api-operation-lifecycle/start?id={id}"),
                &key,
                &json!({}),
            )
            .await
            .expect(200);
    }
    let job = |first: i64| {
        json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 10, "operations": [
            {"external_id": "O1", "operation_name": "Cut", "sequence": first, "cell_name": "Saw"},
            {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"}]}]})
    };
    let (_, cursor) = events_after(&server, &key, "").await;
    let reply = server
        .put("/api-jobs/sync", &key, &job(9))
        .await
        .expect(200);
    let operations = &reply.data()["parts"][0]["operations"];
    assert_eq!(operations[0]["unchanged"], Value::Null, "{}", reply.body);
    assert_eq!(operations[1]["unchanged"], true, "{}", reply.body);
    let (events, _) = events_after(&server, &key, &cursor).await;
    let updated: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "operation.updated")
        .collect();
    assert_eq!(updated.len(), 1, "{events:#?}");
    assert_eq!(updated[0]["record_id"], o1.as_str());
    assert_eq!(updated[0]["data"]["changed_fields"], json!(["sequence"]));
    assert_eq!(updated[0]["data"]["sequence"], 9);
}

on_every_engine!(
    a_changed_floor_row_beside_an_unchanged_one_says_so,
    a_sync_writes_an_event_per_change,
    a_call_refused_record_by_record_says_so_in_the_feed,
);
