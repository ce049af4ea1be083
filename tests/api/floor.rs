//! The shop floor's lifecycle actions: state machines, time entries, refusals, and the part
//! that completes with its last operation.

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

/// A job J with part P and operations O1 (sequence 1) and O2 (sequence 2) in cell "Saw".
pub async fn routing(server: &TestServer, key: &str) -> (String, String) {
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Saw"});
    server.put("/api-cells/sync", key, &cell).await.expect(201);
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 10, "operations": [
            {"external_id": "O1", "operation_name": "Cut", "sequence": 1, "cell_name": "Saw"},
            {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"}]}]});
    server.put("/api-jobs/sync", key, &job).await.expect(201);
    let ops = server.all("operations", key).await;
    let id = |external: &str| {
        ops.iter().find(|o| o["external_id"] == external).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    (id("O1"), id("O2"))
}

/// A time `minutes_ago` minutes before now, as a lifecycle body's `at` takes it.
pub fn at(minutes_ago: i64) -> String {
    let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn an_operation_goes_through_its_lifecycle(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    let act = |action: &str, id: &str| format!("/api-operation-lifecycle/{action}?id={id}");

    let started = server
        .post(
            &act("start", &o1),
            &key,
            &json!({"operator": "ana", "at": at(90)}),
        )
        .await
        .expect(200);
    let data = started.data();
    assert_eq!(data["operation_type"], "start");
    assert_eq!(data["previous_status"], "not_started");
    assert_eq!(data["new_status"], "in_progress");
    assert_eq!(data["operation"]["status"], "in_progress");
    assert_eq!(data["operation"]["part"]["part_number"], "PN-1");
    assert_eq!(data["operation"]["part"]["job"]["job_number"], "SO-1");
    assert!(data["operation"]["started_at"].is_string());
    assert_eq!(data["time_entry_ended"], false);
    assert_eq!(data["ended_time_entry"], Value::Null);

    let paused = server
        .post(
            &act("pause", &o1),
            &key,
            &json!({"at": at(60), "note": "lunch"}),
        )
        .await
        .expect(200);
    assert_eq!(paused.data()["new_status"], "on_hold");
    assert_eq!(paused.data()["time_entry_ended"], true);
    assert_eq!(paused.data()["ended_time_entry"]["operator"], "ana");
    assert_eq!(paused.data()["ended_time_entry"]["duration_minutes"], 30);
    assert_eq!(paused.data()["operation"]["actual_time_minutes"], 30);

    // Eryxon's clients send the operator as `user_id`, and may send no body at all.
    server
        .send(
            reqwest::Method::POST,
            &format!("{}&user_id=ben", act("resume", &o1)),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(200);
    let done = server
        .post(&act("complete", &o1), &key, &json!({}))
        .await
        .expect(200);
    let operation = &done.data()["operation"];
    assert_eq!(operation["status"], "completed");
    assert_eq!(operation["completion_percentage"], 100);
    assert!(operation["completed_at"].is_string());
    assert_eq!(done.data()["ended_time_entry"]["operator"], "ben");

    let entries = server
        .get(&format!("/api-time-entries?operation_id={o1}"), &key)
        .await
        .expect(200);
    let entries = entries.data()["time_entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["note"], "lunch");
    assert!(entries.iter().all(|e| e["end_time"].is_string()));
    let path = format!("/api-time-entries?operation_id={o1}&limit=1&offset=1");
    let last = server.get(&path, &key).await.expect(200);
    assert_eq!(last.data()["time_entries"][0]["id"], entries[1]["id"]);
    assert_eq!(last.data()["pagination"]["total"], 2);

    // The part started with its first operation, and completes with its last live one, not
    // before.
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(part.data()["status"], "in_progress");
    // `start` on hold continues the operation, as Eryxon's terminals send it.
    for action in ["start", "pause"] {
        server
            .post(&act(action, &o2), &key, &json!({}))
            .await
            .expect(200);
    }
    let again = server
        .post(&act("start", &o2), &key, &json!({}))
        .await
        .expect(200);
    assert_eq!(again.data()["previous_status"], "on_hold");
    assert_eq!(again.data()["new_status"], "in_progress");
    server
        .post(&act("complete", &o2), &key, &json!({}))
        .await
        .expect(200);
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(part.data()["status"], "completed");
}

async fn refusals_are_precise(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;

    let refused = server
        .post(
            &format!("/api-operation-lifecycle/complete?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(400);
    assert_eq!(refused.error_code(), "INVALID_STATE_TRANSITION");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'not_started'") && message.contains("start"),
        "{message}"
    );

    let unknown = server
        .post(
            &format!("/api-operation-lifecycle/finish?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(400);
    assert_eq!(unknown.error_code(), "VALIDATION_ERROR");
    let missing = server
        .post("/api-operation-lifecycle/start", &key, &json!({}))
        .await
        .expect(400);
    assert_eq!(missing.body["error"]["details"][0]["field"], "id");
    server
        .post("/api-operation-lifecycle/start?id=nope", &key, &json!({}))
        .await
        .expect(400);
    let nobody = uuid::Uuid::now_v7();
    server
        .post(
            &format!("/api-operation-lifecycle/start?id={nobody}"),
            &key,
            &json!({}),
        )
        .await
        .expect(404);
    // Another tenant's key, and this tenant's test key, do not see the operation.
    let other = server.key("globex").await;
    let test_key = server.key_in("acme", eryxon::domain::Mode::Test).await;
    for key in [&other, &test_key] {
        server
            .post(
                &format!("/api-operation-lifecycle/start?id={o1}"),
                key,
                &json!({}),
            )
            .await
            .expect(404);
    }
    // Bodies are checked: unknown fields, bad and future times.
    for body in [
        json!({"operater": "x"}),
        json!({"at": "yesterday"}),
        json!({"at": "2999-01-01T00:00:00Z"}),
        json!({"at": 1765100000}),
    ] {
        let reply = server
            .post(
                &format!("/api-operation-lifecycle/start?id={o1}"),
                &key,
                &body,
            )
            .await
            .expect(400);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{body}");
        if body["at"].is_number() {
            let message = reply.body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("must be text"),
                "in the API's words: {message}"
            );
        }
    }
    // A report dated before the previous transition would run time backwards.
    server
        .post(
            &format!("/api-operation-lifecycle/start?id={o1}"),
            &key,
            &json!({"at": at(10)}),
        )
        .await
        .expect(200);
    let early = server
        .post(
            &format!("/api-operation-lifecycle/pause?id={o1}"),
            &key,
            &json!({"at": at(20)}),
        )
        .await
        .expect(400);
    assert_eq!(early.body["error"]["details"][0]["field"], "at");
    // Nothing of the refused calls was written.
    let events = server
        .get("/api-events?types=operation.started,operation.paused,operation.resumed,operation.completed", &key)
        .await
        .expect(200);
    let types: Vec<&str> = events.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["operation.started"]);
    // A deleted operation is gone for the floor too.
    server
        .delete("/api-operations/by-external/SAP/O2", &key)
        .await
        .expect(200);
    server
        .post("/api-operations/by-external/SAP/O2/start", &key, &json!({}))
        .await
        .expect(404);
}

async fn jobs_have_their_own_lifecycle(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    routing(&server, &key).await;
    let act = |action: &str| format!("/api-jobs/by-external/SAP/J/{action}");

    let started = server
        .post(&act("start"), &key, &json!({"at": at(120)}))
        .await
        .expect(200);
    assert_eq!(started.data()["operation"], "start");
    assert_eq!(started.data()["job"]["job_number"], "SO-1");
    server
        .post(&act("stop"), &key, &json!({"at": at(60)}))
        .await
        .expect(200);
    let refused = server
        .post(&act("pause"), &key, &json!({}))
        .await
        .expect(400);
    assert!(refused.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("stop"));
    // `start` on hold continues the job as `resume` does.
    let continued = server
        .post(&act("start"), &key, &json!({"at": at(30)}))
        .await
        .expect(200);
    assert_eq!(continued.data()["operation"], "start");
    assert!(continued.data()["job"]["resumed_at"].is_string());
    let resumed = server
        .get("/api-events?types=job.resumed", &key)
        .await
        .expect(200);
    assert_eq!(resumed.data()["events"].as_array().unwrap().len(), 1);
    let done = server
        .post(&act("complete"), &key, &json!({}))
        .await
        .expect(200);
    let job = &done.data()["job"];
    assert_eq!(done.data()["previous_status"], "in_progress");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["actual_duration_minutes"], 90);
    let again = server
        .post(&act("resume"), &key, &json!({}))
        .await
        .expect(400);
    assert_eq!(again.error_code(), "INVALID_STATE_TRANSITION");
    let by_id = format!(
        "/api-job-lifecycle/start?id={}",
        job["id"].as_str().unwrap()
    );
    server.post(&by_id, &key, &json!({})).await.expect(400);
}

/// Eight terminals start one operation at once (SQLite runs concurrent actions in one shared
/// transaction): one start is taken, the others are refused, and the refused ones leave nothing
/// behind: one time entry, one `operation.started`.
async fn concurrent_starts_of_one_operation_take_one(engine: Engine) {
    let server = std::sync::Arc::new(TestServer::start(engine).await);
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let starts = (0..8).map(|i| {
        let (server, key, o1) = (server.clone(), key.clone(), o1.clone());
        tokio::spawn(async move {
            let path = format!("/api-operation-lifecycle/start?id={o1}");
            let reply = server
                .post(&path, &key, &json!({"operator": format!("t{i}")}))
                .await;
            (reply.status.as_u16(), reply.body.to_string())
        })
    });
    let mut answers: Vec<(u16, String)> = futures::future::join_all(starts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    answers.sort();
    assert_eq!(answers[0].0, 200, "{answers:#?}");
    for (status, body) in &answers[1..] {
        // Refused by the status it found: on PostgreSQL the operation is locked while an
        // action runs, so a start that waited reads the winner's status.
        assert_eq!(*status, 400, "{answers:#?}");
        assert!(
            body.contains("INVALID_STATE_TRANSITION") && body.contains("in_progress"),
            "{body}"
        );
    }
    let entries = server
        .get(&format!("/api-time-entries?operation_id={o1}"), &key)
        .await
        .expect(200);
    assert_eq!(entries.data()["time_entries"].as_array().unwrap().len(), 1);
    let started = server
        .get("/api-events?types=operation.started", &key)
        .await
        .expect(200);
    assert_eq!(started.data()["events"].as_array().unwrap().len(), 1);
}

/// The last two operations of a part completed at the same moment, over and over: every time
/// the part completes, with one `part.completed` (on PostgreSQL each action once saw the other
/// still open, and the part stayed unfinished).
async fn concurrent_completions_complete_the_part(engine: Engine) {
    let server = std::sync::Arc::new(TestServer::start(engine).await);
    let key = server.key("acme").await;
    routing(&server, &key).await;
    const ROUNDS: usize = 6;
    for round in 0..ROUNDS {
        let ops: Vec<Value> = (0..4)
            .map(|o| {
                json!({"external_id": format!("R{round}-O{o}"), "operation_name": "Cut",
                "sequence": o + 1, "cell_name": "Saw"})
            })
            .collect();
        let job = json!({"external_id": format!("R{round}"), "external_source": "SAP",
            "job_number": "SO", "parts": [{"external_id": format!("R{round}-P"),
            "part_number": "PN", "operations": ops}]});
        server.put("/api-jobs/sync", &key, &job).await.expect(201);
        for o in 0..4 {
            let path = format!("/api-operations/by-external/SAP/R{round}-O{o}/start");
            server.post(&path, &key, &json!({})).await.expect(200);
        }
        let completes = (0..4).map(|o| {
            let (server, key) = (server.clone(), key.clone());
            tokio::spawn(async move {
                let path = format!("/api-operations/by-external/SAP/R{round}-O{o}/complete");
                server.post(&path, &key, &json!({})).await.status.as_u16()
            })
        });
        for status in futures::future::join_all(completes).await {
            assert_eq!(status.unwrap(), 200, "round {round}");
        }
        let part = server
            .get(&format!("/api-parts/by-external/SAP/R{round}-P"), &key)
            .await
            .expect(200);
        assert_eq!(part.data()["status"], "completed", "round {round}");
    }
    let completed = server
        .get("/api-events?types=part.completed", &key)
        .await
        .expect(200);
    assert_eq!(completed.data()["events"].as_array().unwrap().len(), ROUNDS);
}

/// A terminal whose clock runs ahead dates a start up to a minute in the future; the next
/// action, sent without `at` by another terminal, is taken and dated with it (it was refused
/// for an `at` it never sent, for up to a minute). One sent with an earlier `at` is refused.
async fn an_action_after_one_dated_ahead_is_taken(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let act = |action: &str| format!("/api-operation-lifecycle/{action}?id={o1}");
    let ahead = {
        let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let started = server
        .post(&act("start"), &key, &json!({"at": ahead}))
        .await
        .expect(200);
    let started_at = started.data()["operation"]["started_at"].clone();
    let early = server
        .post(&act("pause"), &key, &json!({"at": at(0)}))
        .await
        .expect(400);
    assert_eq!(early.body["error"]["details"][0]["field"], "at");
    let paused = server
        .post(&act("pause"), &key, &json!({}))
        .await
        .expect(200);
    let op = &paused.data()["operation"];
    assert_eq!(op["status"], "on_hold");
    assert_eq!(
        op["paused_at"], started_at,
        "dated with the start ahead of the clock"
    );
}

on_every_engine!(
    an_action_after_one_dated_ahead_is_taken,
    an_operation_goes_through_its_lifecycle,
    refusals_are_precise,
    jobs_have_their_own_lifecycle,
    concurrent_starts_of_one_operation_take_one,
    concurrent_completions_complete_the_part,
);
