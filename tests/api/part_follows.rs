//! What becomes of a part when its operations change under it, whoever changes them: a part
//! the floor worked on follows them, a part it never worked on keeps the ERP's status, totals
//! follow the operations a part holds, and an answer says so up to the job.

use serde_json::json;

use crate::common::{Engine, TestServer};
use crate::floor::{at, routing};
use crate::on_every_engine;

/// A replace that takes in a part from another job deletes that part's operations it leaves
/// out, so it is refused when the floor worked on one of them (it deleted it). A replacing
/// job refused moves nothing: another replace in the call that leaves the part out would then
/// delete it, and is refused too.
async fn a_replace_taking_in_a_part_keeps_its_worked_operations(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    routing(&server, &key).await;
    let nx = json!({"external_id": "NX", "external_source": "SAP", "job_number": "NX",
        "parts": [{"external_id": "NX-P", "part_number": "p", "operations": [
            {"external_id": "NX-P-1", "operation_name": "Cut", "cell_name": "Saw"}]}]});
    server.put("/api-jobs/sync", &key, &nx).await.expect(201);
    let start = "/api-operations/by-external/SAP/NX-P-1/start";
    server.post(start, &key, &json!({})).await.expect(200);
    let taking = json!({"external_id": "NY", "external_source": "SAP", "job_number": "NY",
        "children": "replace",
        "parts": [{"external_id": "NX-P", "part_number": "p", "operations": []}]});
    for path in ["/api-jobs/sync?dry_run=true", "/api-jobs/sync"] {
        let refused = server.put(path, &key, &taking).await.expect(409);
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("operation NX-P-1"), "{path}: {message}");
    }
    let nx_gone = json!({"external_id": "NX", "external_source": "SAP", "job_number": "NX",
        "children": "replace", "parts": []});
    let bulk = json!({"jobs": [taking, nx_gone]});
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    assert_eq!(reply.data()["errors"], 2, "{}", reply.body);
    let operation = server
        .get("/api-operations/by-external/SAP/NX-P-1", &key)
        .await
        .expect(200);
    assert_eq!(operation.data()["status"], "in_progress");
    server
        .get("/api-jobs/by-external/SAP/NY", &key)
        .await
        .expect(404);
}

/// Deleting an operation of a part the floor never worked on leaves the part's status as the
/// ERP set it: the delete started it (`part.started`) and made it the floor's, so the ERP's
/// later statuses were kept from it.
async fn deleting_an_operation_leaves_an_unworked_parts_status(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    routing(&server, &key).await;
    let o2 = json!({"external_id": "O2", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw", "status": "in_progress"});
    server
        .put("/api-operations/sync", &key, &o2)
        .await
        .expect(200);
    server
        .delete("/api-operations/by-external/SAP/O1", &key)
        .await
        .expect(200);
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(part.data()["status"], "not_started", "{}", part.body);
    let started = server
        .get("/api-events?types=part.*", &key)
        .await
        .expect(200);
    let types: Vec<_> = started.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(types, [json!("part.created")]);
    let done = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "J",
        "part_number": "PN-1", "status": "completed"});
    let reply = server.put("/api-parts/sync", &key, &done).await.expect(200);
    assert!(reply.data().get("kept").is_none(), "{}", reply.body);
}

/// A part's totals are those of the operations it holds now: a part the floor never worked
/// on that was lent an operation with units gives them back when it leaves, and a deleted
/// last operation takes its good units with it. A job whose part so changed is answered
/// updated, not unchanged, also when nothing it sent differs.
async fn totals_follow_the_operations_a_part_holds(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let report = json!({"operation_id": o1, "good": 3});
    server
        .post("/api-operation-quantities", &key, &report)
        .await
        .expect(201);
    let k = json!({"external_id": "K", "external_source": "SAP", "job_number": "SO-2",
        "parts": [{"external_id": "Q", "part_number": "PN-2"}]});
    server.put("/api-jobs/sync", &key, &k).await.expect(201);
    let lend = json!({"external_id": "O1", "external_source": "SAP", "part_external_id": "Q",
        "operation_name": "Cut", "sequence": 1, "cell_name": "Saw"});
    server
        .put("/api-operations/sync", &key, &lend)
        .await
        .expect(200);
    let good = |reply: crate::common::Reply| reply.expect(200).data()["quantity_good"].clone();
    let q = "/api-parts/by-external/SAP/Q";
    assert_eq!(good(server.get(q, &key).await), 3);

    let j = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 10, "operations": [
            {"external_id": "O1", "operation_name": "Cut", "sequence": 1, "cell_name": "Saw"},
            {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"}]}]});
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": [j, k]}))
        .await
        .expect(200);
    let results = &reply.data()["results"];
    assert_eq!(
        results[1]["parts"][0]["action"], "updated",
        "{}",
        reply.body
    );
    assert_eq!(results[1]["action"], "updated", "K: {}", reply.body);
    assert_eq!(reply.data()["unchanged"], 0, "{}", reply.body);
    assert_eq!(good(server.get(q, &key).await), 0, "Q gave O1's units back");

    // P's good units are its last operation's (O2: none); deleting O2 makes them O1's again.
    let p = "/api-parts/by-external/SAP/P";
    assert_eq!(good(server.get(p, &key).await), 0);
    server
        .delete("/api-operations/by-external/SAP/O2", &key)
        .await
        .expect(200);
    assert_eq!(good(server.get(p, &key).await), 3);
}

/// A part completes when its last operation did, by the times the terminals reported: here
/// O1's completion, dated 10:00, is reported before O2's, dated 09:00. The part said 09:00,
/// the time of the last action taken, before an operation of it was done.
async fn a_part_completes_when_its_last_operation_did(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    routing(&server, &key).await;
    let act = |op: &str, action: &str| format!("/api-operations/by-external/SAP/{op}/{action}");
    for (op, action, at) in [
        ("O1", "start", at(240)),
        ("O2", "start", at(300)),
        ("O1", "complete", at(60)),
        ("O2", "complete", at(120)),
    ] {
        let body = json!({ "at": at });
        server.post(&act(op, action), &key, &body).await.expect(200);
    }
    let o1 = server
        .get("/api-operations/by-external/SAP/O1", &key)
        .await
        .expect(200);
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(part.data()["status"], "completed", "{}", part.body);
    assert_eq!(
        part.data()["completed_at"],
        o1.data()["completed_at"],
        "{}",
        part.body
    );
    let events = server
        .get("/api-events?types=part.completed", &key)
        .await
        .expect(200);
    let event = &events.data()["events"][0];
    assert_eq!(
        event["data"]["completed_at"],
        o1.data()["completed_at"],
        "{event:#}"
    );
}

on_every_engine!(
    a_part_completes_when_its_last_operation_did,
    a_replace_taking_in_a_part_keeps_its_worked_operations,
    deleting_an_operation_leaves_an_unworked_parts_status,
    totals_follow_the_operations_a_part_holds,
);
