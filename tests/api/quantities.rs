//! Produced quantities: reports by id and by the ERP's key, the totals of operations and parts,
//! retries by `client_event_id`, refusals, the event, and syncs that leave the totals alone.

use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::floor::routing;
use crate::on_every_engine;

const PATH: &str = "/api-operation-quantities";

fn totals(record: &Value) -> (i64, i64, i64) {
    let n = |name: &str| {
        record[name]
            .as_i64()
            .unwrap_or_else(|| panic!("{name}: {record}"))
    };
    (
        n("quantity_good"),
        n("quantity_scrap"),
        n("quantity_rework"),
    )
}

async fn quantities_add_up_on_operations_and_parts(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    let doc = crate::openapi::fetch_document(&server).await;

    let first = json!({"operation_id": o1, "good": 8, "scrap": 2, "scrap_reason": "burr",
        "operator": "ana", "material_lot": "LOT-1", "client_event_id": "t1-1"});
    let reply = server.post(PATH, &key, &first).await.expect(201);
    crate::openapi::assert_documented(&doc, PATH, "post", &reply);
    let report = &reply.data()["report"];
    assert_eq!(report["operation_id"], o1.as_str());
    assert_eq!(report["external_source"], "SAP");
    assert_eq!(report["external_id"], "O1");
    assert_eq!(report["scrap_reason"], "burr");
    assert_eq!(report["client_event_id"], "t1-1");
    assert!(report["recorded_at"].is_string());
    assert_eq!(totals(&reply.data()["operation"]), (8, 2, 0));

    // By the ERP's key, dated, with no client_event_id.
    let second = json!({"external_source": "SAP", "external_id": "O1", "good": 4, "rework": 1,
        "recorded_at": "2026-01-15T08:00:00+01:00"});
    let reply = server.post(PATH, &key, &second).await.expect(201);
    assert_eq!(
        reply.data()["report"]["recorded_at"],
        "2026-01-15T07:00:00.000000Z"
    );
    assert_eq!(reply.data()["report"]["client_event_id"], Value::Null);
    assert_eq!(totals(&reply.data()["operation"]), (12, 2, 1));

    let operation = server
        .get(&format!("/api-operations/{o1}"), &key)
        .await
        .expect(200);
    assert_eq!(totals(operation.data()), (12, 2, 1));

    // The part's good units are its last operation's; its scrap and rework add up.
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(totals(part.data()), (0, 2, 1));
    server
        .post(
            PATH,
            &key,
            &json!({"operation_id": o2, "good": 7, "scrap": 1}),
        )
        .await
        .expect(201);
    let job = server
        .get("/api-jobs/by-external/SAP/J", &key)
        .await
        .expect(200);
    let part = &job.data()["parts"][0];
    assert_eq!(totals(part), (7, 3, 1));
    assert_eq!(totals(&part["operations"][1]), (7, 1, 0));

    // Oldest first: the dated report, then the first one.
    let list = server
        .get(&format!("{PATH}?operation_id={o1}"), &key)
        .await
        .expect(200);
    crate::openapi::assert_documented(&doc, PATH, "get", &list);
    let reports = list.data()["quantity_reports"].as_array().unwrap();
    let goods: Vec<i64> = reports
        .iter()
        .map(|r| r["good"].as_i64().unwrap())
        .collect();
    assert_eq!(goods, [4, 8]);
    assert_eq!(reports[1]["operator"], "ana");
    assert_eq!(reports[1]["material_lot"], "LOT-1");
    assert_eq!(list.data()["pagination"]["total"], 2);
    // A terminal that reports all shift grows the list: it is read a page at a time.
    let second_page = server
        .get(&format!("{PATH}?operation_id={o1}&limit=1&offset=1"), &key)
        .await
        .expect(200);
    let page = second_page.data();
    assert_eq!(page["quantity_reports"].as_array().unwrap().len(), 1);
    assert_eq!(page["quantity_reports"][0]["good"], 8);
    assert_eq!(page["pagination"]["total"], 2);
    assert_eq!(page["pagination"]["offset"], 1);
    let refused = server
        .get(&format!("{PATH}?operation_id={o1}&limit=0"), &key)
        .await
        .expect(400);
    assert_eq!(refused.body["error"]["details"][0]["field"], "limit");

    // Each report wrote its event, with the operation's new totals.
    let events = server
        .get("/api-events?types=production.quantity_reported", &key)
        .await
        .expect(200);
    let events = events.data()["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{events:#?}");
    let event = &events[1];
    assert_eq!(event["entity"], "operation");
    assert_eq!(event["record_id"], o1.as_str());
    assert_eq!(event["external_id"], "O1");
    assert_eq!(event["data"]["good"], 4);
    assert_eq!(event["data"]["operation_id"], o1.as_str());
    assert_eq!(totals(&event["data"]), (12, 2, 1));

    // A completed operation still takes late counts.
    for action in ["start", "complete"] {
        server
            .post(
                &format!("/api-operation-lifecycle/{action}?id={o2}"),
                &key,
                &json!({}),
            )
            .await
            .expect(200);
    }
    let late = server
        .post(PATH, &key, &json!({"operation_id": o2, "good": 1}))
        .await
        .expect(201);
    assert_eq!(totals(&late.data()["operation"]), (8, 1, 0));
}

async fn a_retried_report_counts_once(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    let doc = crate::openapi::fetch_document(&server).await;
    let report = json!({"operation_id": o1, "good": 5, "client_event_id": "t1-7"});

    let first = server.post(PATH, &key, &report).await.expect(201);
    let again = server.post(PATH, &key, &report).await.expect(200);
    crate::openapi::assert_documented(&doc, PATH, "post", &again);
    assert_eq!(again.data()["report"], first.data()["report"]);
    assert_eq!(totals(&again.data()["operation"]), (5, 0, 0));
    // By the key instead of the id, it is the same report.
    let by_key = json!({"external_source": "SAP", "external_id": "O1", "good": 5,
        "client_event_id": "t1-7"});
    let again = server.post(PATH, &key, &by_key).await.expect(200);
    assert_eq!(again.data()["report"]["id"], first.data()["report"]["id"]);

    // The same id with other numbers, another operation or another time is refused.
    let sent_at = first.data()["report"]["recorded_at"]
        .as_str()
        .unwrap()
        .to_owned();
    for (changed, field) in [
        (json!({"good": 6}), "good"),
        (json!({"good": 5, "scrap": 1}), "scrap"),
        (json!({"external_id": "O2"}), "external_id"),
        (json!({"operator": "ben"}), "operator"),
        (
            json!({"recorded_at": "2026-01-15T08:00:00Z"}),
            "recorded_at",
        ),
    ] {
        let mut body = by_key.clone();
        for (name, value) in changed.as_object().unwrap() {
            body[name] = value.clone();
        }
        let refused = server.post(PATH, &key, &body).await.expect(422);
        crate::openapi::assert_documented(&doc, PATH, "post", &refused);
        assert_eq!(refused.error_code(), "IDEMPOTENCY_MISMATCH", "{body}");
        let message = refused.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
    let same_time = json!({"operation_id": o1, "good": 5, "client_event_id": "t1-7",
        "recorded_at": sent_at});
    server.post(PATH, &key, &same_time).await.expect(200);

    // Another tenant, or this tenant's test mode, has its own client_event_ids.
    let test_key = server.key_in("acme", eryxon::domain::Mode::Test).await;
    routing(&server, &test_key).await;
    let test_report = json!({"external_source": "SAP", "external_id": "O1", "good": 2,
        "client_event_id": "t1-7"});
    server.post(PATH, &test_key, &test_report).await.expect(201);

    // Two retries at once: one is counted, the other answers it.
    let racing = json!({"operation_id": o1, "good": 3, "client_event_id": "t1-8"});
    let (a, b) = tokio::join!(
        server.post(PATH, &key, &racing),
        server.post(PATH, &key, &racing)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 201], "{:#} {:#}", a.body, b.body);
    assert_eq!(a.data()["report"]["id"], b.data()["report"]["id"]);

    let operation = server
        .get(&format!("/api-operations/{o1}"), &key)
        .await
        .expect(200);
    assert_eq!(totals(operation.data()), (8, 0, 0));
    let list = server
        .get(&format!("{PATH}?operation_id={o1}"), &key)
        .await
        .expect(200);
    assert_eq!(list.data()["quantity_reports"].as_array().unwrap().len(), 2);
    let events = server
        .get("/api-events?types=production.quantity_reported", &key)
        .await
        .expect(200);
    assert_eq!(events.data()["events"].as_array().unwrap().len(), 2);
}

async fn bad_reports_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    let doc = crate::openapi::fetch_document(&server).await;

    for (body, field) in [
        (json!({"operation_id": o1, "good": -1}), "good"),
        (json!({"operation_id": o1, "good": 0, "scrap": 0}), "good"),
        (json!({"operation_id": o1}), "good"),
        (json!({"operation_id": o1, "good": 1, "goodd": 1}), "goodd"),
        (
            json!({"operation_id": o1, "good": 1, "recorded_at": "noon"}),
            "recorded_at",
        ),
        (
            json!({"operation_id": o1, "good": 1, "recorded_at": "2999-01-01T00:00:00Z"}),
            "recorded_at",
        ),
        (json!({"good": 1}), "operation_id"),
        (json!({"operation_id": "nope", "good": 1}), "operation_id"),
        (json!({"external_source": "SAP", "good": 1}), "external_id"),
        (
            json!({"operation_id": o1, "good": 1, "client_event_id": "x".repeat(201)}),
            "client_event_id",
        ),
    ] {
        let reply = server.post(PATH, &key, &body).await.expect(400);
        crate::openapi::assert_documented(&doc, PATH, "post", &reply);
        assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{body}");
        assert_eq!(reply.body["error"]["details"][0]["field"], field, "{body}");
    }
    let missing = server.get(PATH, &key).await.expect(400);
    assert_eq!(missing.body["error"]["details"][0]["field"], "operation_id");

    // Unknown, another tenant's, another mode's and deleted operations are not found.
    let nobody = uuid::Uuid::now_v7();
    let reply = server
        .post(PATH, &key, &json!({"operation_id": nobody, "good": 1}))
        .await
        .expect(404);
    crate::openapi::assert_documented(&doc, PATH, "post", &reply);
    server
        .get(&format!("{PATH}?operation_id={nobody}"), &key)
        .await
        .expect(404);
    let other = server.key("globex").await;
    let test_key = server.key_in("acme", eryxon::domain::Mode::Test).await;
    for key in [&other, &test_key] {
        server
            .post(PATH, key, &json!({"operation_id": o1, "good": 1}))
            .await
            .expect(404);
        server
            .get(&format!("{PATH}?operation_id={o1}"), key)
            .await
            .expect(404);
    }
    server
        .delete("/api-operations/by-external/SAP/O2", &key)
        .await
        .expect(200);
    server
        .post(PATH, &key, &json!({"operation_id": o2, "good": 1}))
        .await
        .expect(404);
    let by_key = json!({"external_source": "SAP", "external_id": "O2", "good": 1});
    server.post(PATH, &key, &by_key).await.expect(404);

    // Nothing of the refused calls was written.
    let events = server
        .get("/api-events?types=production.quantity_reported", &key)
        .await
        .expect(200);
    assert_eq!(events.data()["events"], json!([]));
    let operation = server
        .get(&format!("/api-operations/{o1}"), &key)
        .await
        .expect(200);
    assert_eq!(totals(operation.data()), (0, 0, 0));
}

async fn syncs_leave_the_floors_quantities(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, _) = routing(&server, &key).await;
    server
        .post(
            PATH,
            &key,
            &json!({"operation_id": o1, "good": 9, "scrap": 1}),
        )
        .await
        .expect(201);

    // The ERP sends the job again, changed; it cannot send quantities at all.
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "status": "on_hold",
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 12, "operations": [
            {"external_id": "O1", "operation_name": "Cut fine", "sequence": 1, "cell_name": "Saw"},
            {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"}]}]});
    server.put("/api-jobs/sync", &key, &job).await.expect(200);
    let operation = server
        .get(&format!("/api-operations/{o1}"), &key)
        .await
        .expect(200);
    assert_eq!(operation.data()["operation_name"], "Cut fine");
    assert_eq!(totals(operation.data()), (9, 1, 0));
    let part = server
        .get("/api-parts/by-external/SAP/P", &key)
        .await
        .expect(200);
    assert_eq!(part.data()["quantity"], 12);
    assert_eq!(totals(part.data()), (0, 1, 0));
    // The report made the job the floor's: its status stays.
    let stored = server
        .get("/api-jobs/by-external/SAP/J", &key)
        .await
        .expect(200);
    assert_eq!(stored.data()["status"], "not_started");

    let sneaky = json!({"external_id": "O1", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "Cut", "cell_name": "Saw", "quantity_good": 100});
    let refused = server
        .put("/api-operations/sync", &key, &sneaky)
        .await
        .expect(400);
    assert_eq!(
        refused.body["error"]["details"][0]["field"],
        "quantity_good"
    );
}

/// Ninety reports at once, spread over the three operations of one part: the part's totals
/// are the sums of what every report added (on PostgreSQL each once summed the operations as
/// they stood before the others committed).
async fn concurrent_reports_add_up_on_the_part(engine: Engine) {
    let server = std::sync::Arc::new(TestServer::start(engine).await);
    let key = server.key("acme").await;
    crate::floor::routing(&server, &key).await;
    let ops: Vec<Value> = (1..=3)
        .map(|o| {
            json!({"external_id": format!("Q{o}"), "operation_name": "Cut",
            "sequence": o, "cell_name": "Saw"})
        })
        .collect();
    let job = json!({"external_id": "QJ", "external_source": "SAP", "job_number": "SO",
        "parts": [{"external_id": "QP", "part_number": "PN", "operations": ops}]});
    server.put("/api-jobs/sync", &key, &job).await.expect(201);
    let reports = (0..90).map(|i| {
        let (server, key) = (server.clone(), key.clone());
        tokio::spawn(async move {
            let body = json!({"external_source": "SAP", "external_id": format!("Q{}", i % 3 + 1),
                "good": 1, "scrap": 1});
            server.post(PATH, &key, &body).await.status.as_u16()
        })
    });
    for status in futures::future::join_all(reports).await {
        assert_eq!(status.unwrap(), 201);
    }
    let part = server
        .get("/api-parts/by-external/SAP/QP", &key)
        .await
        .expect(200);
    // Good units are the last operation's (30 reports of 1); scrap adds up over all three.
    assert_eq!(totals(part.data()), (30, 90, 0), "{}", part.body);
}

/// A report or a sync that changes a part's totals says so in the feed: `part.updated` naming
/// the totals, its record as `GET` shows it after (they changed with no part event, so a feed
/// reader never learnt a part's produced units). A report that leaves them stands writes none.
async fn a_part_says_when_its_totals_change(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    let part_events = || async {
        let page = server
            .get("/api-events?types=part.updated", &key)
            .await
            .expect(200);
        page.data()["events"].as_array().unwrap().clone()
    };
    let part_now = || async {
        let part = server
            .get("/api-parts/by-external/SAP/P", &key)
            .await
            .expect(200);
        // As an event shows a record: without the children `GET` nests in it.
        let mut part = part.data().clone();
        part.as_object_mut().unwrap().remove("operations");
        part
    };

    // O2 is the last step: its good units are the part's.
    let report = json!({"operation_id": o2, "good": 30, "scrap": 1});
    server.post(PATH, &key, &report).await.expect(201);
    let events = part_events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["data"]["changed_fields"],
        json!(["quantity_good", "quantity_scrap"])
    );
    let mut shown = events[0]["data"].clone();
    shown.as_object_mut().unwrap().remove("changed_fields");
    assert_eq!(shown, part_now().await, "the part as GET shows it");

    // Good units of O1 are not the part's: nothing of the part changes, no event.
    let report = json!({"operation_id": o1, "good": 5});
    server.post(PATH, &key, &report).await.expect(201);
    assert_eq!(part_events().await.len(), 1);

    // The ERP moves O1 behind O2: O1's 5 good units are now the part's.
    let moved = json!({"external_id": "O1", "external_source": "SAP", "part_external_id": "P",
        "operation_name": "Cut", "sequence": 9, "cell_name": "Saw"});
    server
        .put("/api-operations/sync", &key, &moved)
        .await
        .expect(200);
    let events = part_events().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1]["data"]["changed_fields"],
        json!(["quantity_good"])
    );
    assert_eq!(events[1]["data"]["quantity_good"], 5);
    let mut shown = events[1]["data"].clone();
    shown.as_object_mut().unwrap().remove("changed_fields");
    assert_eq!(shown, part_now().await, "the part as GET shows it");

    // A sync that changes the part itself and puts O2 last again says both in one event,
    // the part as it is after the call (the first showed the totals before it).
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1",
        "parts": [{"external_id": "P", "part_number": "PN-1", "quantity": 12, "operations": [
            {"external_id": "O1", "operation_name": "Cut", "sequence": 1, "cell_name": "Saw"},
            {"external_id": "O2", "operation_name": "Deburr", "sequence": 2, "cell_name": "Saw"}]}]});
    server.put("/api-jobs/sync", &key, &job).await.expect(200);
    let events = part_events().await;
    assert_eq!(events.len(), 3, "one event for the part: {events:#?}");
    let changed = &events[2]["data"]["changed_fields"];
    for field in ["quantity", "quantity_good"] {
        assert!(
            changed.as_array().unwrap().contains(&json!(field)),
            "{events:#?}"
        );
    }
    assert_eq!(events[2]["data"]["quantity_good"], 30);
    let mut shown = events[2]["data"].clone();
    shown.as_object_mut().unwrap().remove("changed_fields");
    assert_eq!(shown, part_now().await, "the part as GET shows it");
}

on_every_engine!(
    a_part_says_when_its_totals_change,
    quantities_add_up_on_operations_and_parts,
    a_retried_report_counts_once,
    bad_reports_are_refused,
    syncs_leave_the_floors_quantities,
    concurrent_reports_add_up_on_the_part,
);
