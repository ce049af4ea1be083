//! Sync rules: absent keeps, null clears, unchanged writes nothing, nested jobs are atomic,
//! parts follow their job, results keep input order.

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::on_every_engine;

async fn cell(server: &TestServer, key: &str, name: &str) {
    let body = json!({"external_id": format!("WC-{name}"), "external_source": "SAP", "name": name});
    server.put("/api-cells/sync", key, &body).await.expect(201);
}

fn find<'a>(records: &'a [Value], external_id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["external_id"] == external_id)
        .unwrap_or_else(|| panic!("{external_id} is stored"))
}

async fn absent_keeps_and_null_clears(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let full = json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
        "customer": "Acme", "notes": "n", "priority": 3, "status": "in_progress",
        "due_date": "2025-01-31", "metadata": {"plant": "A"}});
    server.put("/api-jobs/sync", &key, &full).await.expect(201);

    let partial = json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
        "customer": null, "priority": null, "status": null});
    let reply = server
        .put("/api-jobs/sync", &key, &partial)
        .await
        .expect(200);
    assert_eq!(reply.data()["action"], "updated");
    assert!(reply.data().get("unchanged").is_none());

    let stored = &server.all("jobs", &key).await[0];
    assert_eq!(stored["customer"], Value::Null, "null clears");
    assert_eq!(stored["priority"], 0, "null resets a defaulted field");
    assert_eq!(stored["status"], "not_started");
    assert_eq!(stored["notes"], "n", "absent keeps");
    assert_eq!(stored["due_date"], "2025-01-31");
    assert_eq!(stored["metadata"], json!({"plant": "A"}));
}

async fn an_unchanged_resync_writes_nothing(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    cell(&server, &key, "Cutting").await;
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
        "metadata": {"b": 1, "a": [1, 2]},
        "parts": [{"external_id": "P", "part_number": "p",
            "operations": [{"external_id": "O", "operation_name": "cut", "cell_name": "Cutting"}]}]});
    server.put("/api-jobs/sync", &key, &job).await.expect(201);
    let before = server.all("jobs", &key).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let mut reordered = job.clone();
    reordered["metadata"] = json!({"a": [1, 2], "b": 1});
    let reply = server
        .put("/api-jobs/sync", &key, &reordered)
        .await
        .expect(200);
    let data = reply.data();
    assert_eq!(data["action"], "updated");
    assert_eq!(data["unchanged"], true);
    assert_eq!(data["parts"][0]["unchanged"], true);
    assert_eq!(data["parts"][0]["operations"][0]["unchanged"], true);
    let after = server.all("jobs", &key).await;
    assert_eq!(
        before[0]["updated_at"], after[0]["updated_at"],
        "nothing was written"
    );

    let bulk = server
        .post("/api-jobs/bulk-sync", &key, &json!({"jobs": [job]}))
        .await
        .expect(200);
    assert_eq!(bulk.data()["unchanged"], 1);
    assert_eq!(bulk.data()["updated"], 1);
    assert_eq!(bulk.data()["results"][0]["unchanged"], true);
}

/// The store may skip comparing fields for a re-send identical to the last one (SQLite keeps a
/// fingerprint of it), but never across an edit somebody else made in the database meanwhile.
async fn a_resend_puts_back_what_was_edited_behind_the_server(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let jobs = json!({"jobs": [
        {"external_id": "J1", "external_source": "SAP", "job_number": "1", "customer": "Acme",
         "priority": 2},
        {"external_id": "J2", "external_source": "SAP", "job_number": "2", "customer": "Beta"},
        {"external_id": "J3", "external_source": "SAP", "job_number": "3", "customer": "Gamma"}]});
    server
        .post("/api-jobs/bulk-sync", &key, &jobs)
        .await
        .expect(200);
    // Per record of a re-send of `jobs`: whether it came back unchanged.
    let resend = || {
        let (server, key, jobs) = (&server, &key, &jobs);
        async move {
            let reply = server
                .post("/api-jobs/bulk-sync", key, jobs)
                .await
                .expect(200);
            let results = reply.data()["results"].clone();
            let unchanged: Vec<bool> = (0..3).map(|i| results[i]["unchanged"] == true).collect();
            (unchanged, results)
        }
    };
    assert_eq!(resend().await.0, [true, true, true]);

    // Behind the first record of the batch.
    server
        .write_behind_the_server(
            "UPDATE jobs SET customer = 'edited in the MES', priority = 9 \
             WHERE external_id = 'J1'",
        )
        .await;
    let (unchanged, results) = resend().await;
    assert_eq!(unchanged, [false, true, true], "{results:#}");
    assert_eq!(results[0]["action"], "updated");
    let stored = server.all("jobs", &key).await;
    assert_eq!(
        find(&stored, "J1")["customer"],
        "Acme",
        "the ERP's value is back"
    );
    assert_eq!(find(&stored, "J1")["priority"], 2);
    assert_eq!(resend().await.0, [true, true, true]);

    // Behind records further down; an edit that changed no value leaves its record unchanged.
    server
        .write_behind_the_server(
            "UPDATE jobs SET customer = 'edited' WHERE external_id = 'J2'; \
             UPDATE jobs SET customer = customer WHERE external_id = 'J3'",
        )
        .await;
    let (unchanged, results) = resend().await;
    assert_eq!(unchanged, [true, false, true], "{results:#}");
    let stored = server.all("jobs", &key).await;
    assert_eq!(find(&stored, "J2")["customer"], "Beta");
    assert_eq!(resend().await.0, [true, true, true]);

    // A deleted record comes back (new to the ERP again) with the same re-send, and is then
    // unchanged again.
    server
        .delete("/api-jobs/by-external/SAP/J2", &key)
        .await
        .expect(200);
    let (unchanged, results) = resend().await;
    assert_eq!(unchanged, [true, false, true], "{results:#}");
    assert_eq!(results[1]["action"], "created", "{results:#}");
    assert_eq!(server.all("jobs", &key).await.len(), 3);
    assert_eq!(resend().await.0, [true, true, true]);
}

async fn a_changed_child_updates_its_job(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    cell(&server, &key, "Cutting").await;
    let mut job = json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
        "parts": [{"external_id": "P", "part_number": "p",
            "operations": [{"external_id": "O", "operation_name": "cut", "cell_name": "Cutting",
                            "estimated_time_minutes": 10}]}]});
    server.put("/api-jobs/sync", &key, &job).await.expect(201);
    job["parts"][0]["operations"][0]["estimated_time_minutes"] = json!(12);
    let reply = server.put("/api-jobs/sync", &key, &job).await.expect(200);
    let data = reply.data();
    assert_eq!(data["action"], "updated");
    assert!(data.get("unchanged").is_none());
    assert_eq!(data["parts"][0]["operations"][0]["action"], "updated");
    assert!(data["parts"][0]["operations"][0].get("unchanged").is_none());
    assert_eq!(
        server.all("operations", &key).await[0]["estimated_time_minutes"],
        12
    );
}

async fn a_bad_operation_leaves_no_job_behind(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    cell(&server, &key, "Cutting").await;
    let bad = json!({"external_id": "J", "external_source": "SAP", "job_number": "1",
        "parts": [
            {"external_id": "P1", "part_number": "p", "operations": [
                {"external_id": "O1", "operation_name": "cut", "cell_name": "Cutting"}]},
            {"external_id": "P2", "part_number": "q", "operations": [
                {"external_id": "O2", "operation_name": "weld", "cell_name": "Welding"}]}]});
    let reply = server.put("/api-jobs/sync", &key, &bad).await.expect(422);
    assert_eq!(
        reply.body["error"]["details"][0]["field"],
        "parts[1].operations[0].cell_name"
    );
    for entity in ["jobs", "parts", "operations"] {
        assert!(
            server.all(entity, &key).await.is_empty(),
            "no {entity} written"
        );
    }

    let good = json!({"external_id": "G", "external_source": "SAP", "job_number": "2",
        "parts": [{"external_id": "GP", "part_number": "g", "operations": [
            {"external_id": "GO", "operation_name": "cut", "cell_name": "Cutting"}]}]});
    let mut invalid = bad.clone();
    invalid["external_id"] = json!("V");
    invalid["parts"][1]["operations"][0]["cell_name"] = json!("Cutting");
    invalid["parts"][1]["quantity"] = json!("many");
    let reply = server
        .post(
            "/api-jobs/bulk-sync",
            &key,
            &json!({"jobs": [bad, good, invalid]}),
        )
        .await
        .expect(200);
    let data = reply.data();
    assert_eq!(data["created"], 1);
    assert_eq!(data["errors"], 2);
    assert_eq!(data["results"][0]["code"], "REFERENCE_NOT_FOUND");
    assert_eq!(data["results"][1]["action"], "created");
    assert_eq!(data["results"][2]["code"], "VALIDATION_ERROR");
    assert_eq!(data["results"][2]["field"], "parts[1].quantity");
    let parts = server.all("parts", &key).await;
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0]["external_id"], "GP");
    assert_eq!(server.all("operations", &key).await.len(), 1);
}

async fn a_part_follows_its_new_job_and_missing_children_stay(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let first = json!({"external_id": "J1", "external_source": "SAP", "job_number": "1",
        "parts": [{"external_id": "P1", "part_number": "a"}, {"external_id": "P2", "part_number": "b"}]});
    server.put("/api-jobs/sync", &key, &first).await.expect(201);
    let second = json!({"external_id": "J2", "external_source": "SAP", "job_number": "2",
        "parts": [{"external_id": "P2", "part_number": "b"}]});
    let reply = server
        .put("/api-jobs/sync", &key, &second)
        .await
        .expect(201);
    assert_eq!(
        reply.data()["parts"][0]["action"],
        "updated",
        "the part moved, not copied"
    );

    let parts = server.all("parts", &key).await;
    assert_eq!(parts.len(), 2);
    assert_eq!(find(&parts, "P1")["job_external_id"], "J1", "P1 is kept");
    assert_eq!(find(&parts, "P2")["job_external_id"], "J2");

    let flat = json!({"external_id": "P1", "external_source": "SAP", "job_external_id": "J2", "part_number": "a"});
    server.put("/api-parts/sync", &key, &flat).await.expect(200);
    let jobs = server.all("jobs", &key).await;
    let j2 = find(&jobs, "J2")["id"].as_str().unwrap().to_owned();
    let tree = server
        .get(&format!("/api-jobs/{j2}"), &key)
        .await
        .expect(200);
    let parts: Vec<_> = tree.data()["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["external_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(parts, ["P1", "P2"]);
}

async fn flat_parts_may_carry_operations(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    cell(&server, &key, "Cutting").await;
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "1"});
    server.put("/api-jobs/sync", &key, &job).await.expect(201);
    let part = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "J", "part_number": "p",
        "operations": [
            {"external_id": "O2", "operation_name": "second", "cell_name": "Cutting", "sequence": 2},
            {"external_id": "O1", "operation_name": "first", "cell_name": "Cutting", "sequence": 1}]});
    let reply = server.put("/api-parts/sync", &key, &part).await.expect(201);
    assert_eq!(reply.data()["operations"].as_array().unwrap().len(), 2);
    let id = reply.data()["id"].as_str().unwrap();
    let stored = server
        .get(&format!("/api-parts/{id}"), &key)
        .await
        .expect(200);
    let order: Vec<_> = stored.data()["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["external_id"].clone())
        .collect();
    assert_eq!(
        order,
        [json!("O1"), json!("O2")],
        "operations come by sequence"
    );
}

async fn bulk_results_keep_input_order_and_add_up(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let existing: Vec<_> = (0..50)
        .step_by(2)
        .map(|i| json!({"external_id": format!("C{i}"), "external_source": "SAP", "name": format!("cell {i}")}))
        .collect();
    server
        .post("/api-cells/bulk-sync", &key, &json!({"cells": existing}))
        .await
        .expect(200);
    let cells: Vec<_> = (0..50)
        .map(|i| match i % 10 {
            3 => json!({"external_id": format!("C{i}"), "external_source": "SAP", "name": ""}),
            _ => json!({"external_id": format!("C{i}"), "external_source": "SAP", "name": format!("cell {i}"),
                        "wip_limit": if i % 4 == 0 { json!(5) } else { Value::Null }}),
        })
        .collect();
    let reply = server
        .post("/api-cells/bulk-sync", &key, &json!({"cells": cells}))
        .await
        .expect(200);
    let data = reply.data();
    let results = data["results"].as_array().unwrap();
    assert_eq!(results.len(), cells.len(), "one result per record sent");
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], i);
        assert_eq!(result["external_id"], format!("C{i}"));
    }
    let answered = |action: &str| results.iter().filter(|r| r["action"] == action).count();
    let unchanged = results.iter().filter(|r| r["unchanged"] == true).count();
    let (created, updated, errors) = (answered("created"), answered("updated"), answered("error"));
    assert_eq!(
        created + updated + errors,
        cells.len(),
        "every result is one of the three"
    );
    let counts = ["total", "created", "updated", "unchanged", "errors"].map(|n| &data[n]);
    assert_eq!(
        json!(counts),
        json!([cells.len(), created, updated, unchanged, errors]),
        "the counts are those of the records sent and of their results"
    );
    // The five cells numbered 3 modulo 10 have an empty name; the other 20 odd ones are new;
    // the 25 even ones are stored, and the 12 of them sent with no wip_limit are unchanged.
    assert_eq!((created, updated, unchanged, errors), (20, 25, 12, 5));
    assert_eq!(server.all("cells", &key).await.len(), 45);
}

/// A bulk call whose first record is new, followed by stored, changed, deleted and new ones:
/// every record is told apart and keeps (or gets) exactly one row.
async fn a_batch_led_by_a_new_record_tells_every_record_apart(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cell =
        |id: &str, name: &str| json!({"external_id": id, "external_source": "SAP", "name": name});
    let seeded =
        json!({"cells": [cell("SAME", "same"), cell("CHANGED", "before"), cell("GONE", "gone")]});
    server
        .post("/api-cells/bulk-sync", &key, &seeded)
        .await
        .expect(200);
    let ids: std::collections::HashMap<String, Value> = server
        .all("cells", &key)
        .await
        .iter()
        .map(|c| {
            (
                c["external_id"].as_str().unwrap().to_owned(),
                c["id"].clone(),
            )
        })
        .collect();
    server
        .delete("/api-cells/by-external/SAP/GONE", &key)
        .await
        .expect(200);

    let batch = json!({"cells": [cell("NEW-1", "one"), cell("SAME", "same"),
        cell("CHANGED", "after"), cell("GONE", "gone"), cell("NEW-2", "two")]});
    let reply = server
        .post("/api-cells/bulk-sync", &key, &batch)
        .await
        .expect(200);
    let results = reply.data()["results"].as_array().unwrap().clone();
    let actions: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r.get("unchanged").is_some()))
        .collect();
    assert_eq!(
        actions,
        [
            ("created", false),
            ("updated", true),
            ("updated", false),
            ("created", false),
            ("created", false)
        ]
    );
    for stored in ["SAME", "CHANGED", "GONE"] {
        let result = results.iter().find(|r| r["external_id"] == stored).unwrap();
        assert_eq!(result["id"], ids[stored], "{stored} keeps its id");
    }
    assert_eq!(
        (
            reply.data()["created"].clone(),
            reply.data()["updated"].clone()
        ),
        (json!(3), json!(2))
    );
    let stored = server.all("cells", &key).await;
    assert_eq!(stored.len(), 5, "one row per record");
    assert_eq!(find(&stored, "CHANGED")["name"], "after");
    for new in ["NEW-1", "NEW-2"] {
        let result = results.iter().find(|r| r["external_id"] == new).unwrap();
        assert_eq!(find(&stored, new)["id"], result["id"]);
    }
}

async fn list_filters_and_paginates(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cells: Vec<_> = (0..30)
        .map(|i| {
            let source = if i % 3 == 0 { "NetSuite" } else { "SAP" };
            json!({"external_id": format!("C{i:02}"), "external_source": source, "name": format!("c{i}")})
        })
        .collect();
    server
        .post("/api-cells/bulk-sync", &key, &json!({"cells": cells}))
        .await
        .expect(200);
    let page = server
        .get("/api-cells?external_source=SAP&limit=7&offset=14", &key)
        .await
        .expect(200);
    let data = page.data();
    assert_eq!(
        data["pagination"],
        json!({"limit": 7, "offset": 14, "total": 20})
    );
    assert_eq!(data["cells"].as_array().unwrap().len(), 6);
    let one = server
        .get("/api-cells?external_id=C05&external_source=SAP", &key)
        .await
        .expect(200);
    assert_eq!(one.data()["cells"][0]["name"], "c5");
    assert_eq!(one.data()["pagination"]["total"], 1);
    for bad in ["limit=0", "limit=1001", "limit=x", "colour=red"] {
        let reply = server
            .get(&format!("/api-cells?{bad}"), &key)
            .await
            .expect(400);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{bad}");
    }
}

on_every_engine!(
    absent_keeps_and_null_clears,
    an_unchanged_resync_writes_nothing,
    a_resend_puts_back_what_was_edited_behind_the_server,
    a_changed_child_updates_its_job,
    a_bad_operation_leaves_no_job_behind,
    a_part_follows_its_new_job_and_missing_children_stay,
    flat_parts_may_carry_operations,
    bulk_results_keep_input_order_and_add_up,
    a_batch_led_by_a_new_record_tells_every_record_apart,
    list_filters_and_paginates,
);
