//! What the lifecycle routes, the time entries and the event feed answer (successes and
//! errors) is what the document says they answer, and a sync that keeps the floor's status
//! says so in the documented shape.

use reqwest::Method;
use serde_json::json;

use super::{assert_documented, fetch_document};
use crate::common::{Engine, TestServer};
use crate::floor::routing;
use crate::on_every_engine;

const OPERATION: &str = "/api-operation-lifecycle/{action}";
const OPERATION_BY_EXTERNAL: &str =
    "/api-operations/by-external/{external_source}/{external_id}/{action}";
const JOB: &str = "/api-job-lifecycle/{action}";
const JOB_BY_EXTERNAL: &str = "/api-jobs/by-external/{external_source}/{external_id}/{action}";

async fn floor_and_feed_answers_match_the_schemas(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let doc = fetch_document(&server).await;
    let (o1, o2) = routing(&server, &key).await;
    let act = |action: &str, id: &str| format!("/api-operation-lifecycle/{action}?id={id}");

    // Every example body of the lifecycle routes, and no body at all.
    let examples = super::request_examples(&doc, OPERATION, "post");
    let started = server
        .post(&act("start", &o1), &key, &examples[0].1)
        .await
        .expect(200);
    assert_documented(&doc, OPERATION, "post", &started);
    let paused = server
        .send(Method::POST, &act("pause", &o1), Some(&key), None, None)
        .await
        .expect(200);
    assert_eq!(paused.data()["time_entry_ended"], true);
    assert!(paused.data()["ended_time_entry"].is_object());
    assert_documented(&doc, OPERATION, "post", &paused);
    let resumed = server
        .post(
            &format!("/api-operation-lifecycle/resume?id={o1}&user_id=ben"),
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    assert_documented(&doc, OPERATION, "post", &resumed);
    let refused = server
        .post(&act("start", &o1), &key, &json!({}))
        .await
        .expect(400);
    assert_eq!(refused.error_code(), "INVALID_STATE_TRANSITION");
    assert_documented(&doc, OPERATION, "post", &refused);
    let completed = server
        .post(
            "/api-operations/by-external/SAP/O1/complete",
            &key,
            &json!({"note": "done"}),
        )
        .await
        .expect(200);
    assert_documented(&doc, OPERATION_BY_EXTERNAL, "post", &completed);
    let late = server
        .post(
            "/api-operations/by-external/SAP/O2/start",
            &key,
            &examples[1].1,
        )
        .await
        .expect(200);
    assert_documented(&doc, OPERATION_BY_EXTERNAL, "post", &late);
    // Deleting what the floor worked on is the documented conflict.
    for (path, template) in [
        (format!("/api-operations/{o1}"), "/api-operations/{id}"),
        (
            "/api-jobs/by-external/SAP/J".to_owned(),
            "/api-jobs/by-external/{external_source}/{external_id}",
        ),
    ] {
        let reply = server
            .send(Method::DELETE, &path, Some(&key), None, None)
            .await
            .expect(409);
        assert_eq!(reply.error_code(), "CONFLICT", "{path}");
        assert_documented(&doc, template, "delete", &reply);
    }

    for (path, template) in [
        ("/api-operation-lifecycle/start", OPERATION),
        (&*act("finish", &o2), OPERATION),
        (&*act("start", "nope"), OPERATION),
        (
            "/api-operations/by-external/SAP/O2/finish",
            OPERATION_BY_EXTERNAL,
        ),
    ] {
        let reply = server.post(path, &key, &json!({})).await.expect(400);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{path}");
        assert_documented(&doc, template, "post", &reply);
    }
    let unknown = uuid::Uuid::now_v7();
    let reply = server
        .post(&act("start", &unknown.to_string()), &key, &json!({}))
        .await
        .expect(404);
    assert_documented(&doc, OPERATION, "post", &reply);
    let reply = server
        .post(
            "/api-operations/by-external/SAP/NOPE/start",
            &key,
            &json!({}),
        )
        .await
        .expect(404);
    assert_documented(&doc, OPERATION_BY_EXTERNAL, "post", &reply);
    let reply = server
        .send(Method::POST, &act("start", &o2), None, None, None)
        .await
        .expect(401);
    assert_documented(&doc, OPERATION, "post", &reply);
    let reader = server.key_with_scopes("acme", "read").await;
    let reply = server
        .post(&act("pause", &o2), &reader, &json!({}))
        .await
        .expect(403);
    assert_documented(&doc, OPERATION, "post", &reply);

    let jobs = server.all("jobs", &key).await;
    let job = jobs[0]["id"].as_str().unwrap().to_owned();
    let job_act = |action: &str| format!("/api-job-lifecycle/{action}?id={job}");
    let reply = server
        .post(&job_act("start"), &key, &json!({"operator": "ana"}))
        .await
        .expect(200);
    assert_documented(&doc, JOB, "post", &reply);
    let reply = server
        .post(&job_act("pause"), &key, &json!({}))
        .await
        .expect(400);
    assert_documented(&doc, JOB, "post", &reply);
    let reply = server
        .post(&job_act("resume"), &key, &json!({}))
        .await
        .expect(400);
    assert_eq!(reply.error_code(), "INVALID_STATE_TRANSITION");
    assert_documented(&doc, JOB, "post", &reply);
    let reply = server
        .post("/api-jobs/by-external/SAP/J/stop", &key, &json!({}))
        .await
        .expect(200);
    assert_documented(&doc, JOB_BY_EXTERNAL, "post", &reply);
    let reply = server
        .post("/api-jobs/by-external/SAP/NOPE/stop", &key, &json!({}))
        .await
        .expect(404);
    assert_documented(&doc, JOB_BY_EXTERNAL, "post", &reply);

    let reply = server
        .get(&format!("/api-time-entries?operation_id={o1}"), &key)
        .await
        .expect(200);
    assert_eq!(reply.data()["time_entries"].as_array().unwrap().len(), 2);
    assert_documented(&doc, "/api-time-entries", "get", &reply);
    let reply = server
        .get(&format!("/api-time-entries?operation_id={o2}"), &key)
        .await
        .expect(200);
    assert_documented(&doc, "/api-time-entries", "get", &reply);
    let reply = server.get("/api-time-entries", &key).await.expect(400);
    assert_documented(&doc, "/api-time-entries", "get", &reply);
    let reply = server
        .get(&format!("/api-time-entries?operation_id={unknown}"), &key)
        .await
        .expect(404);
    assert_documented(&doc, "/api-time-entries", "get", &reply);

    // A sync that sends another status for a record the floor has worked on keeps the floor's.
    let resent = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "status": "not_started", "parts": [{"external_id": "P", "part_number": "PN-1",
        "operations": [{"external_id": "O1", "operation_name": "Cut", "sequence": 1,
            "cell_name": "Saw", "status": "not_started"}]}]});
    let reply = server
        .put("/api-jobs/sync", &key, &resent)
        .await
        .expect(200);
    assert!(reply.data()["kept"].is_array(), "{:#}", reply.body);
    assert!(
        reply.data()["parts"][0]["operations"][0]["kept"].is_array(),
        "{:#}",
        reply.body
    );
    assert_documented(&doc, "/api-jobs/sync", "put", &reply);
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": [resent]}))
        .await
        .expect(200);
    assert!(
        reply.data()["results"][0]["kept"].is_array(),
        "{:#}",
        reply.body
    );
    assert_documented(&doc, "/api-jobs/bulk-sync", "post", &reply);
    let flat = json!({"operations": [{"external_id": "O2", "external_source": "SAP",
        "part_external_id": "P", "operation_name": "Deburr", "cell_name": "Saw",
        "status": "completed"}]});
    let reply = server
        .post("/api-operations/bulk-sync", &key, &flat)
        .await
        .expect(200);
    assert!(
        reply.data()["results"][0]["kept"].is_array(),
        "{:#}",
        reply.body
    );
    assert_documented(&doc, "/api-operations/bulk-sync", "post", &reply);

    // The feed: every kind of event written above, in pages, filtered, one by one.
    let mut after = String::new();
    let mut seen = 0;
    loop {
        let reply = server
            .get(&format!("/api-events?limit=7{after}"), &key)
            .await
            .expect(200);
        assert_documented(&doc, "/api-events", "get", &reply);
        let data = reply.data();
        seen += data["events"].as_array().unwrap().len();
        after = format!("&after={}", data["next_cursor"].as_str().unwrap());
        if data["has_more"] == false {
            break;
        }
    }
    assert!(seen >= 14, "{seen} events");
    let reply = server
        .get(
            "/api-events?types=operation.*,sync.completed&entity=operation&external_source=SAP",
            &key,
        )
        .await
        .expect(200);
    assert_documented(&doc, "/api-events", "get", &reply);
    let first = reply.data()["events"][0]["id"].as_str().unwrap().to_owned();
    let reply = server
        .get(&format!("/api-events/{first}"), &key)
        .await
        .expect(200);
    assert_documented(&doc, "/api-events/{id}", "get", &reply);
    let reply = server.get("/api-events/evt_nope", &key).await.expect(404);
    assert_documented(&doc, "/api-events/{id}", "get", &reply);
    for query in ["types=job.bogus", "after=nope", "limit=0", "entity=jobs"] {
        let reply = server
            .get(&format!("/api-events?{query}"), &key)
            .await
            .expect(400);
        assert_documented(&doc, "/api-events", "get", &reply);
    }
    crate::retention::prune_all(&server).await;
    let reply = server.get("/api-events?after=c0", &key).await.expect(410);
    assert_eq!(reply.error_code(), "CURSOR_EXPIRED");
    assert_documented(&doc, "/api-events", "get", &reply);
}

on_every_engine!(floor_and_feed_answers_match_the_schemas);
