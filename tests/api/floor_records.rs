//! What the floor's actions show beyond their answers: a record's actual minutes in `GET`,
//! and transition events carrying the record as `GET` shows it right after the change.

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::floor::{at, routing};
use crate::on_every_engine;

/// `GET` shows the floor's actual minutes (rounded to the nearest, as the lifecycle answers
/// show them), and so does the record in a later sync's event.
async fn reads_show_the_floors_actual_minutes(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let read = |path: &'static str| {
        let (server, key) = (&server, &key);
        async move { server.get(path, key).await.expect(200).data().clone() }
    };
    assert_eq!(
        read("/api-operations/by-external/SAP/O1").await["actual_time_minutes"],
        0
    );
    assert_eq!(
        read("/api-jobs/by-external/SAP/J").await["actual_duration_minutes"],
        0
    );

    let act = |action: &str| format!("/api-operation-lifecycle/{action}?id={o1}");
    server
        .post(&act("start"), &key, &json!({"at": at(50)}))
        .await
        .expect(200);
    let paused = server
        .post(&act("pause"), &key, &json!({"at": at(25)}))
        .await
        .expect(200);
    assert_eq!(paused.data()["operation"]["actual_time_minutes"], 25);
    let operation = read("/api-operations/by-external/SAP/O1").await;
    assert_eq!(operation["actual_time_minutes"], 25);
    assert_eq!(operation["status"], "on_hold");

    let job = |action: &str| format!("/api-jobs/by-external/SAP/J/{action}");
    server
        .post(&job("start"), &key, &json!({"at": at(100)}))
        .await
        .expect(200);
    server
        .post(&job("stop"), &key, &json!({"at": at(40)}))
        .await
        .expect(200);
    assert_eq!(
        read("/api-jobs/by-external/SAP/J").await["actual_duration_minutes"],
        60
    );

    // A later sync's event shows them.
    let resync = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "notes": "re-sent"});
    server
        .put("/api-jobs/sync", &key, &resync)
        .await
        .expect(200);
    let events = read("/api-events?types=job.updated").await;
    let event = &events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(event["data"]["actual_duration_minutes"], 60, "{event}");
    assert_eq!(
        read("/api-jobs/by-external/SAP/J").await["actual_duration_minutes"],
        60
    );
}

/// A transition's event carries the record as `GET` shows it right after the change, with
/// `previous_status` and `new_status`: the operation's, the part's it completed, the job's.
async fn transition_events_carry_the_record(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    for (id, action) in [
        (&o1, "start"),
        (&o1, "complete"),
        (&o2, "start"),
        (&o2, "complete"),
    ] {
        let path = format!("/api-operation-lifecycle/{action}?id={id}");
        server.post(&path, &key, &json!({})).await.expect(200);
    }
    server
        .post("/api-jobs/by-external/SAP/J/start", &key, &json!({}))
        .await
        .expect(200);
    let events = server
        .get(
            "/api-events?types=operation.completed,part.completed,job.started",
            &key,
        )
        .await
        .expect(200);
    let events = events.data()["events"].as_array().unwrap().clone();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "operation.completed",
            "operation.completed",
            "part.completed",
            "job.started"
        ]
    );
    let last = |kind: &str| events.iter().rev().find(|e| e["entity"] == kind).unwrap();
    for (kind, path, previous) in [
        (
            "operation",
            "/api-operations/by-external/SAP/O2",
            "in_progress",
        ),
        // Started with its first operation (`part.started`).
        ("part", "/api-parts/by-external/SAP/P", "in_progress"),
        ("job", "/api-jobs/by-external/SAP/J", "not_started"),
    ] {
        let mut data = last(kind)["data"].as_object().unwrap().clone();
        assert_eq!(data.remove("previous_status").unwrap(), previous, "{kind}");
        assert_eq!(
            data.remove("new_status"),
            data.get("status").cloned(),
            "{kind}"
        );
        let read = server.get(path, &key).await.expect(200);
        let mut record = read.data().as_object().unwrap().clone();
        record.remove("parts");
        record.remove("operations");
        assert_eq!(Value::Object(data), Value::Object(record), "{kind}");
    }
    assert_eq!(last("job")["data"]["job_number"], "SO-1");
    assert_eq!(last("operation")["data"]["cell_name"], "Saw");
}

/// A server with the routing of `floor::routing`, whose O1 the floor started and completed
/// (O2 still open, so part P is not).
async fn first_operation_completed(engine: Engine) -> (TestServer, String) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    for action in ["start", "complete"] {
        let path = format!("/api-operation-lifecycle/{action}?id={o1}");
        server.post(&path, &key, &json!({})).await.expect(200);
    }
    (server, key)
}

/// The part with the ERP's key `external`, as `GET` shows it.
async fn part(server: &TestServer, key: &str, external: &str) -> serde_json::Value {
    let path = format!("/api-parts/by-external/SAP/{external}");
    server.get(&path, key).await.expect(200).data().clone()
}

/// A replace that deletes a part's open operations and keeps its completed ones completes the
/// part, as completing or deleting the last open one does; its feed says `part.completed`.
async fn a_replace_leaving_only_completed_operations_completes_the_part(engine: Engine) {
    let (server, key) = first_operation_completed(engine).await;
    let part = server.get("/api-parts/by-external/SAP/P", &key).await;
    assert_eq!(part.expect(200).data()["status"], "in_progress");

    let only_o1 = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 10,
            "status": "not_started", "operations": [
            {"external_id": "O1", "operation_name": "Cut", "sequence": 1, "cell_name": "Saw"}]}]});
    let replaced = server
        .put("/api-jobs/sync?children=replace", &key, &only_o1)
        .await
        .expect(200);
    // The answer says what the part became in this call (its note said it stays in_progress).
    let answered = &replaced.data()["parts"][0];
    assert_eq!(answered["unchanged"], Value::Null, "{answered}");
    let reason = answered["kept"][0]["reason"].as_str().unwrap();
    assert!(reason.contains(r#"it is now "completed""#), "{reason}");
    let part = server.get("/api-parts/by-external/SAP/P", &key).await;
    assert_eq!(part.expect(200).data()["status"], "completed");
    let feed = server.get("/api-events?types=part.completed", &key).await;
    let events = feed.expect(200).data()["events"].clone();
    assert_eq!(events.as_array().unwrap().len(), 1, "{events:#}");
    assert_eq!(events[0]["data"]["status"], "completed");
}

/// A sync that moves a part's last operation to another part changes the part's good units
/// (those of its last operation): the answer shows the part changed, as its feed does (it said
/// `unchanged`).
async fn a_sync_answers_what_its_parts_became(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let report = json!({"operation_id": o1, "good": 2});
    server
        .post("/api-operation-quantities", &key, &report)
        .await
        .expect(201);
    assert_eq!(part(&server, &key, "P").await["quantity_good"], 0);
    let moved = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 10},
            {"external_id": "P2", "part_number": "PN-2", "operations": [
            {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"}]}]});
    let dry = server
        .put("/api-jobs/sync?dry_run=true", &key, &moved)
        .await;
    let dry = dry.expect(200);
    assert_eq!(
        part(&server, &key, "P").await["quantity_good"],
        0,
        "a dry run writes nothing"
    );
    let reply = server.put("/api-jobs/sync", &key, &moved).await.expect(200);
    assert_eq!(part(&server, &key, "P").await["quantity_good"], 2);
    let answered = &reply.data()["parts"][0];
    assert_eq!(answered["external_id"], "P");
    assert_eq!(answered["unchanged"], Value::Null, "{answered}");
    assert_eq!(
        &dry.data()["parts"][0],
        answered,
        "the dry run answered the same"
    );
    assert_eq!(dry.data()["action"], reply.data()["action"]);
}

/// A flat sync that moves a part's last open operation to another part leaves the first part
/// with completed operations only: it completes, as deleting that operation would complete it.
async fn moving_the_open_operation_away_completes_the_part(engine: Engine) {
    let (server, key) = first_operation_completed(engine).await;
    let p2 = json!({"external_id": "P2", "external_source": "SAP", "job_external_id": "J",
        "part_number": "PN-2", "quantity": 1});
    server.put("/api-parts/sync", &key, &p2).await.expect(201);

    let moved = json!({"external_id": "O2", "external_source": "SAP", "part_external_id": "P2",
        "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"});
    server
        .put("/api-operations/sync", &key, &moved)
        .await
        .expect(200);
    assert_eq!(part(&server, &key, "P").await["status"], "completed");
    assert_eq!(part(&server, &key, "P2").await["status"], "not_started");
    let feed = server.get("/api-events?types=part.completed", &key).await;
    let events = feed.expect(200).data()["events"].clone();
    assert_eq!(events.as_array().unwrap().len(), 1, "{events:#}");
    assert_eq!(events[0]["external_id"], "P");
}

/// A part the floor worked on follows its operations whatever route changed them: the ERP
/// completing its last open operation completes it; an operation added to a completed part
/// opens it again; units move with an operation moved to another part. (The part's status is
/// the floor's, so no sync could correct it: it stayed `not_started` with every operation
/// completed, or `completed` while an operation ran, and its totals counted operations it no
/// longer held.)
async fn a_part_follows_its_operations_whoever_changes_them(engine: Engine) {
    let (server, key) = first_operation_completed(engine).await;
    let part = |external: &'static str| part(&server, &key, external);
    let part_events = || {
        let (server, key) = (&server, &key);
        async move {
            let feed = server
                .get("/api-events?types=part.*", key)
                .await
                .expect(200);
            let events = feed.data()["events"].as_array().unwrap().clone();
            let told: Vec<(String, String)> = events
                .iter()
                .map(|e| {
                    (
                        e["type"].as_str().unwrap().to_owned(),
                        e["data"]["status"].to_string(),
                    )
                })
                .collect();
            told
        }
    };
    assert_eq!(part("P").await["status"], "in_progress");

    // (a) The ERP completes the last open operation.
    let o2 = json!({"external_id": "O2", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw", "status": "completed"});
    server
        .put("/api-operations/sync", &key, &o2)
        .await
        .expect(200);
    let p = part("P").await;
    assert_eq!(p["status"], "completed", "{p:#}");
    assert!(p["completed_at"].is_string(), "{p:#}");

    // (b) An operation added to the completed part opens it again.
    let o3 = json!({"external_id": "O3", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "Paint", "sequence": 3, "cell_name": "Saw"});
    server
        .put("/api-operations/sync", &key, &o3)
        .await
        .expect(201);
    let p = part("P").await;
    assert_eq!(p["status"], "in_progress", "{p:#}");
    assert!(p["completed_at"].is_null(), "{p:#}");
    let told = part_events().await;
    let kinds: Vec<&str> = told.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        &kinds[kinds.len() - 2..],
        ["part.completed", "part.updated"],
        "{told:?}"
    );
    let reopened = server.last_event("part.updated", &key).await;
    assert_eq!(
        reopened["data"]["previous_status"], "completed",
        "{reopened:#}"
    );
    assert_eq!(reopened["data"]["new_status"], "in_progress");
    assert_eq!(
        reopened["data"]["changed_fields"],
        json!(["status", "completed_at"])
    );

    // Units move with their operation: O3 reports 7 good and 2 scrap, then moves to P2.
    let p2 = json!({"external_id": "P2", "external_source": "SAP", "job_external_id": "J",
        "part_number": "PN-2", "quantity": 1});
    server.put("/api-parts/sync", &key, &p2).await.expect(201);
    let report = json!({"external_source": "SAP", "external_id": "O3", "good": 7, "scrap": 2});
    server
        .post("/api-operation-quantities", &key, &report)
        .await
        .expect(201);
    assert_eq!(part("P").await["quantity_scrap"], 2);
    let moved = json!({"external_id": "O3", "external_source": "SAP", "part_external_id": "P2",
        "operation_name": "Paint", "sequence": 9, "cell_name": "Saw"});
    server
        .put("/api-operations/sync", &key, &moved)
        .await
        .expect(200);
    let (p, p2) = (part("P").await, part("P2").await);
    assert_eq!(
        (p["quantity_good"].clone(), p["quantity_scrap"].clone()),
        (json!(0), json!(0)),
        "{p:#}"
    );
    assert_eq!(
        (p2["quantity_good"].clone(), p2["quantity_scrap"].clone()),
        (json!(7), json!(2)),
        "{p2:#}"
    );
    // P was left with completed operations only: it completes again.
    assert_eq!(p["status"], "completed", "{p:#}");
}

/// An action's `operator` and `note` are in its event, and a closing action's note joins the
/// time entry's: a pause's note replaced the start's, its operator was kept nowhere, and a
/// job's action dropped both.
async fn an_action_says_who_and_why_in_its_event(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let act = |action: &'static str, body: Value| {
        let (server, key, o1) = (&server, &key, &o1);
        async move {
            let path = format!("/api-operation-lifecycle/{action}?id={o1}");
            server.post(&path, key, &body).await.expect(200);
        }
    };
    act("start", json!({"operator": "ana", "note": "setup A"})).await;
    act("pause", json!({"operator": "bob", "note": "jam"})).await;
    act("resume", json!({"operator": "cem"})).await;
    act("complete", json!({})).await;
    let entries = server
        .get(&format!("/api-time-entries?operation_id={o1}"), &key)
        .await
        .expect(200);
    let entries = entries.data()["time_entries"].as_array().unwrap().clone();
    assert_eq!(entries[0]["operator"], "ana");
    assert_eq!(entries[0]["note"], "setup A; jam");
    assert_eq!(entries[1]["operator"], "cem");
    assert_eq!(entries[1]["note"], Value::Null);

    let job = "/api-jobs/by-external/SAP/J/start";
    let body = json!({"operator": "dan", "note": "first shift"});
    server.post(job, &key, &body).await.expect(200);
    let events = server
        .get(
            "/api-events?types=operation.paused,operation.completed,job.started",
            &key,
        )
        .await
        .expect(200);
    let events = events.data()["events"].as_array().unwrap().clone();
    let said = |i: usize| {
        (
            events[i]["data"]["operator"].clone(),
            events[i]["data"]["note"].clone(),
        )
    };
    assert_eq!(said(0), (json!("bob"), json!("jam")));
    assert_eq!(
        said(1),
        (Value::Null, Value::Null),
        "nothing said, nothing added"
    );
    assert_eq!(events[2]["type"], "job.started");
    assert_eq!(said(2), (json!("dan"), json!("first shift")));
}

/// A terminal with nobody logged in sends `"operator": ""`: the record names no operator
/// (null, as when none is sent), and a clock never set (year 1, 1970) is refused, not stored as
/// a start decades ago. The same validation runs before either engine, so on one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_floor_texts_are_stored_as_none() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let start = format!("/api-operation-lifecycle/start?id={o1}");
    for at in ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"] {
        let refused = server
            .post(&start, &key, &json!({"at": at}))
            .await
            .expect(400);
        assert_eq!(refused.body["error"]["details"][0]["field"], "at");
    }
    server
        .post(&start, &key, &json!({"operator": "  ", "note": ""}))
        .await
        .expect(200);
    let entries = server
        .get(&format!("/api-time-entries?operation_id={o1}"), &key)
        .await
        .expect(200);
    let entry = &entries.data()["time_entries"][0];
    assert_eq!(
        (&entry["operator"], &entry["note"]),
        (&Value::Null, &Value::Null)
    );

    let report = json!({"operation_id": o1, "good": 1, "operator": "", "scrap_reason": "",
        "material_lot": " ", "client_event_id": "blank-1"});
    let reply = server
        .post("/api-operation-quantities", &key, &report)
        .await
        .expect(201);
    let stored = &reply.data()["report"];
    for field in ["operator", "scrap_reason", "material_lot"] {
        assert_eq!(stored[field], Value::Null, "{field}: {stored}");
    }
    // The retry, blank again or with nothing at all, is the same report.
    server
        .post("/api-operation-quantities", &key, &report)
        .await
        .expect(200);
    let bare = json!({"operation_id": o1, "good": 1, "client_event_id": "blank-1"});
    server
        .post("/api-operation-quantities", &key, &bare)
        .await
        .expect(200);
    let old = json!({"operation_id": o1, "good": 1, "recorded_at": "1970-01-01T00:00:00Z"});
    let refused = server
        .post("/api-operation-quantities", &key, &old)
        .await
        .expect(400);
    assert_eq!(refused.body["error"]["details"][0]["field"], "recorded_at");
}

on_every_engine!(
    a_sync_answers_what_its_parts_became,
    an_action_says_who_and_why_in_its_event,
    a_part_follows_its_operations_whoever_changes_them,
    reads_show_the_floors_actual_minutes,
    transition_events_carry_the_record,
    a_replace_leaving_only_completed_operations_completes_the_part,
    moving_the_open_operation_away_completes_the_part,
);
