//! The floor owns progress: a sync never undoes it, and what the floor worked on is not
//! deleted from under it.

use serde_json::json;

use crate::common::{Engine, TestServer};
use crate::floor::routing;
use crate::on_every_engine;

fn job(o1_name: &str, status: &str) -> serde_json::Value {
    json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 10, "operations": [
            {"external_id": "O1", "operation_name": o1_name, "sequence": 1, "cell_name": "Saw",
             "status": status},
            {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"}]}]})
}

async fn a_sync_keeps_the_floors_status(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    for action in ["start", "complete"] {
        server
            .post(
                &format!("/api-operation-lifecycle/{action}?id={o1}"),
                &key,
                &json!({}),
            )
            .await
            .expect(200);
    }
    // The nightly re-sync still says not_started: accepted, and the floor's status stays.
    let resync = server
        .put("/api-jobs/sync", &key, &job("Cut", "not_started"))
        .await
        .expect(200);
    let op = server
        .get("/api-operations/by-external/SAP/O1", &key)
        .await
        .expect(200);
    assert_eq!(op.data()["status"], "completed", "{}", resync.body);
    // The answer says which sent value the record kept, and why; O2 kept nothing.
    let operations = &resync.data()["parts"][0]["operations"];
    let kept = &operations[0]["kept"];
    assert_eq!(kept[0]["field"], "status", "{}", resync.body);
    assert!(kept[0]["reason"].as_str().unwrap().contains("completed"));
    assert!(operations[1].get("kept").is_none(), "{}", resync.body);
    // Sent again, it is unchanged, and still says so (a dry run too).
    for path in ["/api-jobs/sync", "/api-jobs/sync?dry_run=true"] {
        let again = server
            .put(path, &key, &job("Cut", "not_started"))
            .await
            .expect(200);
        let op = &again.data()["parts"][0]["operations"][0];
        assert_eq!(op["unchanged"], true, "{}", again.body);
        assert_eq!(op["kept"][0]["field"], "status", "{}", again.body);
    }
    // Changing what the ERP owns still works; the status stays the floor's, and a re-send of
    // that change is unchanged and still says so (the SQLite writer remembers what it wrote).
    for _ in 0..2 {
        let reply = server
            .put("/api-jobs/sync", &key, &job("Cut to length", "not_started"))
            .await
            .expect(200);
        let op = &reply.data()["parts"][0]["operations"][0];
        assert_eq!(op["kept"][0]["field"], "status", "{}", reply.body);
    }
    // `null` asks for the default (not_started): kept, and said, the same way.
    let null = json!({"external_id": "O1", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "Cut to length", "cell_name": "Saw", "status": null});
    let reply = server
        .put("/api-operations/sync", &key, &null)
        .await
        .expect(200);
    assert_eq!(reply.data()["kept"][0]["field"], "status", "{}", reply.body);
    let bulk = json!({"operations": [{"external_id": "O1", "external_source": "SAP",
        "part_external_id": "P", "operation_name": "Cut to length", "cell_name": "Saw",
        "status": "on_hold"}]});
    let reply = server
        .post("/api-operations/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    assert_eq!(reply.data()["unchanged"], 1, "{}", reply.body);
    assert!(
        reply
            .body
            .to_string()
            .contains(r#""kept":[{"field":"status""#),
        "{}",
        reply.body
    );
    let op = server
        .get("/api-operations/by-external/SAP/O1", &key)
        .await
        .expect(200);
    assert_eq!(op.data()["operation_name"], "Cut to length");
    assert_eq!(op.data()["status"], "completed");
    // An operation the floor never touched still takes the ERP's status.
    let o2 = server
        .get("/api-operations/by-external/SAP/O2", &key)
        .await
        .expect(200);
    assert_eq!(o2.data()["status"], "not_started");
}

async fn deleting_what_the_floor_worked_on_is_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    server
        .post(
            &format!("/api-operation-lifecycle/start?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    for path in [
        "/api-jobs/by-external/SAP/J",
        "/api-parts/by-external/SAP/P",
        "/api-operations/by-external/SAP/O1",
    ] {
        let reply = server.delete(path, &key).await.expect(409);
        assert_eq!(reply.error_code(), "CONFLICT");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("operation O1"), "{path}: {message}");
    }
    // Nothing was deleted; an untouched operation still can be, and says so in the feed.
    assert_eq!(server.all("operations", &key).await.len(), 2);
    server
        .delete("/api-operations/by-external/SAP/O2", &key)
        .await
        .expect(200);
    let events = server
        .get("/api-events?types=operation.deleted", &key)
        .await
        .expect(200);
    let events = events.data()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["external_id"], "O2");
    assert_eq!(events[0]["data"]["external_id"], "O2");
}

async fn a_deleted_job_writes_a_tombstone_per_record(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    routing(&server, &key).await;
    server
        .delete("/api-jobs/by-external/SAP/J", &key)
        .await
        .expect(200);
    let events = server.get("/api-events", &key).await.expect(200);
    let mut types: Vec<String> = events.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().ends_with(".deleted"))
        .map(|e| {
            format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["external_id"].as_str().unwrap()
            )
        })
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "job.deleted J",
            "operation.deleted O1",
            "operation.deleted O2",
            "part.deleted P"
        ]
    );
}

/// A job that keeps O2 only, under a replace: O1 (worked on) would go.
fn without_o1(external_id: &str) -> serde_json::Value {
    json!({"external_id": external_id, "external_source": "SAP", "job_number": "SO-1",
        "children": "replace",
        "parts": [{"external_id": "P", "part_number": "PN-1", "operations": [
            {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"}]}]})
}

async fn a_replace_never_drops_what_the_floor_worked_on(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    server
        .post(
            &format!("/api-operation-lifecycle/start?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    let mut changed = without_o1("J");
    changed["job_number"] = json!("SO-1b");
    for path in ["/api-jobs/sync?dry_run=true", "/api-jobs/sync"] {
        let reply = server.put(path, &key, &changed).await.expect(409);
        assert_eq!(reply.error_code(), "CONFLICT");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("operation O1"), "{path}: {message}");
    }
    // Nothing of the job was written, not even its own new number.
    let job = server
        .get("/api-jobs/by-external/SAP/J", &key)
        .await
        .expect(200);
    assert_eq!(job.data()["job_number"], "SO-1");
    assert_eq!(server.all("operations", &key).await.len(), 2);
    // In a bulk call that job gets the error; the others go on.
    let bulk = json!({"jobs": [changed, {"external_id": "J2", "external_source": "SAP",
        "job_number": "SO-2"}]});
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    let results = &reply.data()["results"];
    assert_eq!(results[0]["code"], "CONFLICT", "{}", reply.body);
    assert_eq!(results[1]["action"], "created", "{}", reply.body);
    assert_eq!(server.all("operations", &key).await.len(), 2);
    // Once O1 is sent again, the replace goes through.
    let mut with_o1 = without_o1("J");
    with_o1["parts"][0]["operations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"external_id": "O1", "operation_name": "Cut", "cell_name": "Saw"}));
    server
        .put("/api-jobs/sync", &key, &with_o1)
        .await
        .expect(200);
}

/// Starting one operation makes its part and job the floor's too, as a quantity report does:
/// the nightly re-sync that calls the job and part `completed` keeps their status (and says
/// so), and the part still completes, with its event, when its operations do.
async fn an_action_makes_part_and_job_the_floors(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    let act = |action: &str, id: &str| format!("/api-operation-lifecycle/{action}?id={id}");
    server
        .post(&act("start", &o1), &key, &json!({}))
        .await
        .expect(200);
    let mut body = job("Cut", "not_started");
    body["status"] = json!("completed");
    body["parts"][0]["status"] = json!("completed");
    let reply = server.put("/api-jobs/sync", &key, &body).await.expect(200);
    assert_eq!(reply.data()["kept"][0]["field"], "status", "{}", reply.body);
    assert_eq!(
        reply.data()["parts"][0]["kept"][0]["field"],
        "status",
        "{}",
        reply.body
    );
    // The job keeps the ERP's first status; the part started with its operation.
    for (path, status) in [
        ("/api-jobs/by-external/SAP/J", "not_started"),
        ("/api-parts/by-external/SAP/P", "in_progress"),
    ] {
        let record = server.get(path, &key).await.expect(200);
        assert_eq!(record.data()["status"], status, "{path}");
    }
    for (action, id) in [("complete", &o1), ("start", &o2), ("complete", &o2)] {
        server
            .post(&act(action, id), &key, &json!({}))
            .await
            .expect(200);
    }
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(part.data()["status"], "completed");
    // Reads show the floor's times beside the ERP's fields.
    assert!(part.data()["completed_at"].is_string(), "{}", part.body);
    let op = server
        .get(&format!("/api-operations/{o1}"), &key)
        .await
        .expect(200);
    assert!(op.data()["started_at"].is_string(), "{}", op.body);
    assert!(op.data()["completed_at"].is_string(), "{}", op.body);
    assert_eq!(op.data()["paused_at"], serde_json::Value::Null);
    assert_eq!(op.data()["completion_percentage"], 100);
    let events = server
        .get(
            "/api-events?types=part.completed,job.updated,part.updated",
            &key,
        )
        .await
        .expect(200);
    let types: Vec<&str> = events.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["part.completed"], "{}", events.body);
}

/// A bulk call that moves a part the floor worked on to another job, and replaces the old
/// job's routing with one that leaves it out: the part moves with its started operation, the
/// untouched part is deleted, and nothing is refused (the replace deletes none of the floor's).
async fn a_replace_lets_what_the_floor_worked_on_move_to_another_job(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    routing(&server, &key).await;
    let nx = json!({"external_id": "NX", "external_source": "SAP", "job_number": "NX",
        "parts": [{"external_id": "NX-P", "part_number": "p", "operations": [
            {"external_id": "NX-P-1", "operation_name": "Cut", "cell_name": "Saw"}]},
            {"external_id": "NX-Q", "part_number": "q"}]});
    server.put("/api-jobs/sync", &key, &nx).await.expect(201);
    server
        .post(
            "/api-operations/by-external/SAP/NX-P-1/start",
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    let bulk = json!({"jobs": [
        {"external_id": "NY", "external_source": "SAP", "job_number": "NY",
         "parts": [{"external_id": "NX-P", "part_number": "p"}]},
        {"external_id": "NX", "external_source": "SAP", "job_number": "NX",
         "children": "replace", "parts": []}]});
    for path in ["/api-jobs/bulk-sync?dry_run=true", "/api-jobs/bulk-sync"] {
        let reply = server.post(path, &key, &bulk).await.expect(200);
        assert_eq!(reply.data()["errors"], 0, "{path}: {}", reply.body);
    }
    let ny = server
        .get("/api-jobs/by-external/SAP/NY", &key)
        .await
        .expect(200);
    let parts = ny.data()["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1, "{}", ny.body);
    assert_eq!(parts[0]["operations"][0]["status"], "in_progress");
    server
        .get("/api-parts/by-external/SAP/NX-Q", &key)
        .await
        .expect(404);
}

/// Deleting a part's last open operation, once the others are completed, completes the part
/// (with its `part.completed`), as completing that operation would have.
async fn deleting_the_last_open_operation_completes_the_part(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    for action in ["start", "complete"] {
        let path = format!("/api-operation-lifecycle/{action}?id={o1}");
        server.post(&path, &key, &json!({})).await.expect(200);
    }
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(part.data()["status"], "in_progress");
    server
        .delete(&format!("/api-operations/{o2}"), &key)
        .await
        .expect(200);
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(part.data()["status"], "completed", "{}", part.body);
    let events = server
        .get("/api-events?types=part.completed", &key)
        .await
        .expect(200);
    assert_eq!(events.data()["events"].as_array().unwrap().len(), 1);
}

/// The sync history keeps what a call's records kept, nested ones included, for the operator
/// asking later why the ERP's status never arrived; the console's page of the call shows it.
async fn the_history_shows_what_the_floor_kept(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let path = format!("/api-operation-lifecycle/start?id={o1}");
    server.post(&path, &key, &json!({})).await.expect(200);
    server
        .put("/api-jobs/sync", &key, &job("Cut", "completed"))
        .await
        .expect(200);
    let history = server.get("/api-sync/imports", &key).await.expect(200);
    let entry = &history.data()["imports"][0];
    assert_eq!(entry["endpoint"], "PUT /api-jobs/sync");
    assert_eq!(entry["kept"], 1, "{}", history.body);
    assert!(
        entry.get("kept_details").is_none(),
        "the list leaves details out"
    );
    let id = entry["id"].as_str().unwrap();
    let detail = server
        .get(&format!("/api-sync/imports/{id}"), &key)
        .await
        .expect(200);
    let kept = &detail.data()["kept_details"];
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "{}", detail.body);
    assert_eq!(kept[0]["index"], 0);
    assert_eq!(kept[0]["entity"], "operations");
    assert_eq!(kept[0]["external_id"], "O1");
    assert_eq!(kept[0]["field"], "status");
    let reason = kept[0]["reason"].as_str().unwrap();
    assert!(reason.contains(r#"stays "in_progress""#), "{reason}");
    // An entry without any keeps an empty list; the call before (the routing) kept nothing.
    let earlier = history.data()["imports"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let detail = server
        .get(&format!("/api-sync/imports/{earlier}"), &key)
        .await
        .expect(200);
    assert_eq!(detail.data()["kept_details"], json!([]));

    let session = crate::console::sign_in(&server, &key).await;
    let page = crate::console::page(&server, &session, &format!("/console/syncs/{id}")).await;
    assert!(page.contains("1 kept values the shop floor owns"), "{page}");
    assert!(page.contains(r#"<table id="kept">"#), "{page}");
    assert!(page.contains("<td>O1</td>"), "{page}");
}

on_every_engine!(
    the_history_shows_what_the_floor_kept,
    a_replace_never_drops_what_the_floor_worked_on,
    a_sync_keeps_the_floors_status,
    deleting_what_the_floor_worked_on_is_refused,
    a_deleted_job_writes_a_tombstone_per_record,
    an_action_makes_part_and_job_the_floors,
    a_replace_lets_what_the_floor_worked_on_move_to_another_job,
    deleting_the_last_open_operation_completes_the_part,
);
