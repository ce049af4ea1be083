//! Reconcile and control: dry runs, lookups by the ERP's key, soft deletes and restores.

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

async fn seed_job_with_children(server: &TestServer, key: &str) -> Value {
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"});
    server.put("/api-cells/sync", key, &cell).await.expect(201);
    let job = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "1",
        "parts": [
            {"external_id": "P1", "part_number": "a", "operations": [
                {"external_id": "O1", "operation_name": "cut", "cell_name": "Cutting"}]},
            {"external_id": "P2", "part_number": "b", "operations": [
                {"external_id": "O2", "operation_name": "cut", "cell_name": "Cutting"}]}]});
    server.put("/api-jobs/sync", key, &job).await.expect(201);
    job
}

async fn snapshot(server: &TestServer, key: &str) -> Vec<Vec<Value>> {
    let mut all = Vec::new();
    for entity in ["jobs", "parts", "operations", "cells", "resources"] {
        let reply = server
            .get(
                &format!("/api-{entity}?limit=1000&include_deleted=true"),
                key,
            )
            .await
            .expect(200);
        all.push(reply.data()[entity].as_array().unwrap().clone());
    }
    all
}

/// A result with the ids of would-be-created records removed, to compare a dry run with
/// the real call (which makes new ids).
fn without_new_ids(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        if object.get("action") == Some(&json!("created")) {
            object.remove("id");
        }
        object.remove("dry_run");
        for child in ["parts", "operations", "results"] {
            if let Some(Value::Array(items)) = object.get_mut(child) {
                let cleaned = items.drain(..).map(without_new_ids).collect();
                *items = cleaned;
            }
        }
    }
    value
}

async fn a_dry_run_answers_like_the_real_call_and_writes_nothing(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let mut job = seed_job_with_children(&server, &key).await;
    job["customer"] = json!("changed");
    let bulk = json!({"jobs": [
        job,
        {"external_id": "SO-2", "external_source": "SAP", "job_number": "2"},
        {"external_id": "SO-3", "external_source": "SAP", "job_number": "3", "parts": [
            {"external_id": "P3", "part_number": "c", "operations": [
                {"external_id": "O3", "operation_name": "weld", "cell_name": "Welding"}]}]},
        {"external_id": "SO-4", "external_source": "SAP", "job_number": 4},
    ]});
    let before = snapshot(&server, &key).await;
    let dry = server
        .post("/api-jobs/bulk-sync?dry_run=true", &key, &bulk)
        .await
        .expect(200);
    assert_eq!(dry.data()["dry_run"], true);
    assert!(
        dry.data()["results"][1].get("id").is_none(),
        "no id for a record not created"
    );
    assert_eq!(
        snapshot(&server, &key).await,
        before,
        "a dry run writes nothing"
    );

    let real = server
        .post("/api-jobs/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    assert_eq!(
        without_new_ids(dry.data().clone()),
        without_new_ids(real.data().clone())
    );
    assert_eq!(
        dry.data()["results"][0]["id"],
        real.data()["results"][0]["id"]
    );

    let single = json!({"external_id": "SO-9", "external_source": "SAP", "job_number": "9"});
    let reply = server
        .put("/api-jobs/sync?dry_run=true", &key, &single)
        .await
        .expect(201);
    assert_eq!(reply.data()["action"], "created");
    assert_eq!(reply.data()["dry_run"], true);
    assert!(
        server.get("/api-jobs?external_id=SO-9", &key).await.data()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let reply = server
        .put("/api-jobs/sync?dry_run=maybe", &key, &single)
        .await
        .expect(400);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR");
}

async fn records_are_found_by_the_erps_key(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell = json!({"external_id": "WC/10 A", "external_source": "SAP", "name": "Cutting"});
    let created = server.put("/api-cells/sync", &key, &cell).await.expect(201);
    let found = server
        .get("/api-cells/by-external/SAP/WC%2F10%20A", &key)
        .await
        .expect(200);
    assert_eq!(found.data()["id"], created.data()["id"]);
    assert_eq!(found.data()["name"], "Cutting");
    let reply = server
        .get("/api-cells/by-external/NetSuite/WC%2F10%20A", &key)
        .await
        .expect(404);
    assert_eq!(reply.error_code(), "NOT_FOUND");
    let other = server.key("globex").await;
    server
        .get("/api-cells/by-external/SAP/WC%2F10%20A", &other)
        .await
        .expect(404);
}

async fn delete_read_restore(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let job = seed_job_with_children(&server, &key).await;
    let id = server.all("jobs", &key).await[0]["id"].clone();

    let deleted = server
        .delete("/api-jobs/by-external/SAP/SO-1", &key)
        .await
        .expect(200);
    assert_eq!(deleted.data()["id"], id);
    assert_eq!(deleted.data()["deleted_parts"], 2);
    assert_eq!(deleted.data()["deleted_operations"], 2);
    for entity in ["jobs", "parts", "operations"] {
        assert!(server.all(entity, &key).await.is_empty(), "{entity} hidden");
    }
    let path = format!("/api-jobs/{}", id.as_str().unwrap());
    server.get(&path, &key).await.expect(404);
    let shown = server
        .get(&format!("{path}?include_deleted=true"), &key)
        .await
        .expect(200);
    assert!(shown.data()["deleted_at"].is_string());
    assert_eq!(shown.data()["deleted_at"], shown.data()["updated_at"]);
    assert_ne!(
        shown.data()["synced_at"],
        shown.data()["updated_at"],
        "a delete is not a sync"
    );
    assert_eq!(shown.data()["parts"].as_array().unwrap().len(), 2);
    let listed = server
        .get("/api-parts?include_deleted=true", &key)
        .await
        .expect(200);
    assert_eq!(listed.data()["pagination"]["total"], 2);
    let again = server.delete(&path, &key).await;
    assert_eq!(again.expect(404).error_code(), "NOT_FOUND");

    let part = json!({"external_id": "PX", "external_source": "SAP", "job_external_id": "SO-1", "part_number": "x"});
    let reply = server.put("/api-parts/sync", &key, &part).await.expect(422);
    assert_eq!(
        reply.error_code(),
        "REFERENCE_NOT_FOUND",
        "a deleted job takes no parts"
    );

    let mut only_p1 = job.clone();
    only_p1["parts"] = json!([job["parts"][0].clone()]);
    let restored = server
        .put("/api-jobs/sync", &key, &only_p1)
        .await
        .expect(201);
    assert_eq!(restored.data()["action"], "created");
    assert_eq!(restored.data()["id"], id, "restored with the same id");
    assert_eq!(restored.data()["parts"][0]["action"], "created");
    let parts = server.all("parts", &key).await;
    assert_eq!(parts.len(), 1, "P2 was not re-sent and stays deleted");
    assert_eq!(parts[0]["external_id"], "P1");
    assert!(parts[0]["deleted_at"].is_null());
    let resent = server
        .put("/api-jobs/sync", &key, &only_p1)
        .await
        .expect(200);
    assert_eq!(resent.data()["unchanged"], true);
}

async fn a_cell_in_use_cannot_be_deleted(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    seed_job_with_children(&server, &key).await;
    let reply = server
        .delete("/api-cells/by-external/SAP/WC-1", &key)
        .await
        .expect(409);
    assert_eq!(reply.error_code(), "CONFLICT");
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("2 live operation"));
    server
        .delete("/api-jobs/by-external/SAP/SO-1", &key)
        .await
        .expect(200);
    server
        .delete("/api-cells/by-external/SAP/WC-1", &key)
        .await
        .expect(200);
    let operation = json!({"external_id": "O9", "external_source": "SAP", "part_external_id": "P1",
        "operation_name": "cut", "cell_name": "Cutting"});
    server
        .put("/api-operations/sync", &key, &operation)
        .await
        .expect(422);
}

async fn deletes_stay_inside_the_tenant(engine: Engine) {
    let server = TestServer::start(engine).await;
    let acme = server.key("acme").await;
    let globex = server.key("globex").await;
    seed_job_with_children(&server, &acme).await;
    let id = server.all("jobs", &acme).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        format!("/api-jobs/{id}"),
        "/api-jobs/by-external/SAP/SO-1".to_owned(),
    ] {
        server.delete(&path, &globex).await.expect(404);
    }
    server
        .delete("/api-jobs/not-a-uuid", &acme)
        .await
        .expect(404);
    assert_eq!(server.all("jobs", &acme).await.len(), 1);
}

async fn replace_mode_deletes_left_out_children(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let mut job = seed_job_with_children(&server, &key).await;
    // P1 keeps O1 and gains O1b; P2 is left out entirely.
    job["parts"] = json!([{"external_id": "P1", "part_number": "a", "operations": [
        {"external_id": "O1b", "operation_name": "deburr", "cell_name": "Cutting"}]}]);

    let merged = server.put("/api-jobs/sync", &key, &job).await.expect(200);
    assert_eq!(
        merged.data()["parts"].as_array().unwrap().len(),
        1,
        "merge deletes nothing"
    );
    assert_eq!(server.all("parts", &key).await.len(), 2);

    let replaced = server
        .put("/api-jobs/sync?children=replace", &key, &job)
        .await
        .expect(200);
    let parts = replaced.data()["parts"].as_array().unwrap().clone();
    let p1 = parts.iter().find(|p| p["external_id"] == "P1").unwrap();
    let p2 = parts.iter().find(|p| p["external_id"] == "P2").unwrap();
    assert_eq!(p2["action"], "deleted");
    assert_eq!(p2["operations"][0]["external_id"], "O2");
    assert_eq!(p2["operations"][0]["action"], "deleted");
    let o1 = p1["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["external_id"] == "O1")
        .unwrap();
    assert_eq!(o1["action"], "deleted");
    let live_parts = server.all("parts", &key).await;
    assert_eq!(live_parts.len(), 1);
    let live_ops: Vec<_> = server
        .all("operations", &key)
        .await
        .iter()
        .map(|o| o["external_id"].clone())
        .collect();
    assert_eq!(live_ops, [json!("O1b")]);

    let again = server
        .put("/api-jobs/sync?children=replace", &key, &job)
        .await
        .expect(200);
    assert_eq!(again.data()["unchanged"], true, "nothing left to delete");

    // Per job in bulk: the job's own field wins over the request's default.
    job["parts"] = json!([]);
    job["children"] = json!("merge");
    let bulk = server
        .post(
            "/api-jobs/bulk-sync?children=replace",
            &key,
            &json!({"jobs": [job]}),
        )
        .await
        .expect(200);
    assert_eq!(bulk.data()["unchanged"], 1);
    assert_eq!(server.all("parts", &key).await.len(), 1);
    job["children"] = json!("replace");
    let bulk = server
        .post(
            "/api-jobs/bulk-sync?dry_run=true",
            &key,
            &json!({"jobs": [job]}),
        )
        .await
        .expect(200);
    assert_eq!(bulk.data()["results"][0]["parts"][0]["action"], "deleted");
    assert_eq!(
        server.all("parts", &key).await.len(),
        1,
        "a dry run deletes nothing"
    );

    let cell = json!({"external_id": "WC-9", "external_source": "SAP", "name": "x"});
    let reply = server
        .put("/api-cells/sync?children=replace", &key, &cell)
        .await
        .expect(400);
    assert_eq!(reply.body["error"]["details"][0]["field"], "children");
}

/// A child that a replace deleted is known to be deleted: sent again as it was, it comes
/// back rather than being taken for an unchanged re-send.
async fn a_child_deleted_by_replace_comes_back_when_sent_again(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let job = seed_job_with_children(&server, &key).await;
    let mut only_p1 = job.clone();
    only_p1["parts"] = json!([job["parts"][0].clone()]);
    server
        .put("/api-jobs/sync?children=replace", &key, &only_p1)
        .await
        .expect(200);
    assert_eq!(server.all("parts", &key).await.len(), 1);

    let again = server.put("/api-jobs/sync", &key, &job).await.expect(200);
    let parts = again.data()["parts"].as_array().unwrap().clone();
    let p2 = parts.iter().find(|p| p["external_id"] == "P2").unwrap();
    assert_eq!(p2["action"], "created", "{:#}", again.data());
    assert_eq!(p2["operations"][0]["action"], "created");
    assert_eq!(server.all("parts", &key).await.len(), 2);
    assert_eq!(server.all("operations", &key).await.len(), 2);
}

/// Under replace a job must list its parts, and each part its operations: a header sent alone
/// (by mistake, or by an ERP that sends `?children=replace` on every call) is refused, naming
/// the list, and deletes nothing; `[]` still deletes them all. In bulk only that job is refused.
async fn replace_needs_the_children_listed(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let job = seed_job_with_children(&server, &key).await;
    let header = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "1"});
    let field = |reply: &crate::common::Reply| reply.body["error"]["details"][0]["field"].clone();

    let refused = server
        .put("/api-jobs/sync?children=replace", &key, &header)
        .await
        .expect(400);
    assert_eq!(refused.error_code(), "VALIDATION_ERROR");
    assert_eq!(field(&refused), "parts");
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("send [] to delete them all"), "{message}");

    let mut own = header.clone();
    own["children"] = json!("replace");
    own["parts"] = json!([{"external_id": "P1", "part_number": "a"}, job["parts"][1]]);
    let refused = server.put("/api-jobs/sync", &key, &own).await.expect(400);
    assert_eq!(field(&refused), "parts[0].operations");
    assert_eq!(server.all("parts", &key).await.len(), 2, "nothing deleted");
    assert_eq!(
        server.all("operations", &key).await.len(),
        2,
        "nothing deleted"
    );

    let mut other = header.clone();
    other["external_id"] = json!("SO-2");
    other["parts"] = json!([]);
    let bulk = server
        .post(
            "/api-jobs/bulk-sync?children=replace",
            &key,
            &json!({"jobs": [header, other]}),
        )
        .await
        .expect(200);
    let results = bulk.data()["results"].as_array().unwrap().clone();
    assert_eq!(results[0]["field"], "parts", "{results:?}");
    assert_eq!(results[1]["action"], "created", "{results:?}");
    assert_eq!(bulk.data()["errors"], 1);

    // Merge (the default) keeps what a header leaves out, as before.
    server.put("/api-jobs/sync", &key, &job).await.expect(200);
    let mut emptied = job.clone();
    emptied["parts"] = json!([]);
    let replaced = server
        .put("/api-jobs/sync?children=replace", &key, &emptied)
        .await
        .expect(200);
    assert_eq!(replaced.data()["parts"].as_array().unwrap().len(), 2);
    assert!(
        server.all("parts", &key).await.is_empty(),
        "[] deletes them all"
    );
}

on_every_engine!(
    replace_needs_the_children_listed,
    a_dry_run_answers_like_the_real_call_and_writes_nothing,
    records_are_found_by_the_erps_key,
    delete_read_restore,
    a_cell_in_use_cannot_be_deleted,
    deletes_stay_inside_the_tenant,
    replace_mode_deletes_left_out_children,
    a_child_deleted_by_replace_comes_back_when_sent_again,
);
