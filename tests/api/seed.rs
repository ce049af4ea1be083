//! Every example of the API reference (`shared/spec/api-sync.md`), sent verbatim.

use serde_json::{json, Value};

use crate::common::{Engine, Reply, TestServer};
use crate::on_every_engine;

fn assert_uuid(value: &Value) {
    let text = value.as_str().expect("an id string");
    uuid::Uuid::parse_str(text).expect("a UUID");
}

fn assert_sync_reply(reply: &Reply, action: &str, external_id: &str) {
    let data = reply.data();
    assert_eq!(data["action"], action);
    assert_eq!(data["external_id"], external_id);
    assert_uuid(&data["id"]);
}

async fn seed_cells(server: &TestServer, key: &str) {
    for (id, name) in [("WC-CUTTING", "Cutting"), ("WC-BENDING", "Bending")] {
        let cell = json!({"external_id": id, "external_source": "SAP", "name": name});
        server.put("/api-cells/sync", key, &cell).await.expect(201);
    }
}

async fn single_cell_example(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let body = json!({
      "external_id": "WC-CUTTING",
      "external_source": "SAP",
      "name": "Cutting",
      "color": "#3b82f6",
      "sequence": 1,
      "active": true
    });
    let created = server.put("/api-cells/sync", &key, &body).await.expect(201);
    assert_sync_reply(&created, "created", "WC-CUTTING");
    let again = server.put("/api-cells/sync", &key, &body).await.expect(200);
    assert_sync_reply(&again, "updated", "WC-CUTTING");
    assert_eq!(again.data()["id"], created.data()["id"]);

    let stored = &server.all("cells", &key).await[0];
    assert_eq!(stored["name"], "Cutting");
    assert_eq!(stored["color"], "#3b82f6");
    assert_eq!(stored["sequence"], 1);
    assert_eq!(stored["active"], true);
    assert_eq!(stored["external_source"], "SAP");
}

async fn single_resource_example(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let body = json!({
      "external_id": "TOOL-001",
      "external_source": "SAP",
      "name": "CNC Mill #1",
      "type": "equipment",
      "description": "5-axis CNC milling machine",
      "identifier": "MILL-001",
      "location": "Building A, Bay 3",
      "status": "available"
    });
    let created = server
        .put("/api-resources/sync", &key, &body)
        .await
        .expect(201);
    assert_sync_reply(&created, "created", "TOOL-001");
    let stored = &server.all("resources", &key).await[0];
    for field in [
        "name",
        "type",
        "description",
        "identifier",
        "location",
        "status",
    ] {
        assert_eq!(stored[field], body[field], "{field}");
    }
}

async fn single_job_example(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let body = json!({
      "external_id": "SO-12345",
      "external_source": "SAP",
      "job_number": "JOB-2024-001",
      "customer": "Acme Corp",
      "due_date": "2024-12-31",
      "priority": 5,
      "notes": "Synced from SAP"
    });
    let created = server.put("/api-jobs/sync", &key, &body).await.expect(201);
    assert_sync_reply(&created, "created", "SO-12345");
    let id = created.data()["id"].as_str().unwrap();
    let stored = server
        .get(&format!("/api-jobs/{id}"), &key)
        .await
        .expect(200);
    let job = stored.data();
    for field in ["job_number", "customer", "due_date", "priority", "notes"] {
        assert_eq!(job[field], body[field], "{field}");
    }
    assert_eq!(job["status"], "not_started");
    assert_eq!(job["parts"], json!([]));
}

fn nested_job_example() -> Value {
    json!({
      "external_id": "SO-12345",
      "external_source": "SAP",
      "job_number": "JOB-2024-001",
      "customer": "Acme Corp",
      "parts": [
        {
          "external_id": "SO-12345-10",
          "part_number": "BRACKET-A",
          "material": "Steel 304",
          "quantity": 25,
          "operations": [
            {
              "external_id": "SO-12345-10-010",
              "operation_name": "Laser Cut",
              "cell_name": "Cutting",
              "sequence": 1,
              "estimated_time_minutes": 30
            },
            {
              "external_id": "SO-12345-10-020",
              "operation_name": "Bend 90°",
              "cell_name": "Bending",
              "sequence": 2,
              "estimated_time_minutes": 15
            }
          ]
        }
      ]
    })
}

async fn nested_job_example_creates_the_whole_tree(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    seed_cells(&server, &key).await;
    let created = server
        .put("/api-jobs/sync", &key, &nested_job_example())
        .await
        .expect(201);
    assert_sync_reply(&created, "created", "SO-12345");
    let part = &created.data()["parts"][0];
    assert_eq!(part["external_id"], "SO-12345-10");
    assert_eq!(part["action"], "created");
    let operations = part["operations"].as_array().unwrap();
    assert_eq!(operations.len(), 2);
    assert!(operations.iter().all(|o| o["action"] == "created"));

    let id = created.data()["id"].as_str().unwrap();
    let tree = server
        .get(&format!("/api-jobs/{id}"), &key)
        .await
        .expect(200);
    let part = &tree.data()["parts"][0];
    assert_eq!(part["part_number"], "BRACKET-A");
    assert_eq!(part["quantity"], 25);
    assert_eq!(
        part["external_source"], "SAP",
        "children inherit the job's source"
    );
    let names: Vec<_> = part["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["operation_name"].clone(), o["cell_name"].clone()))
        .collect();
    assert_eq!(
        names,
        vec![
            (json!("Laser Cut"), json!("Cutting")),
            (json!("Bend 90°"), json!("Bending"))
        ]
    );
}

async fn bulk_jobs_example(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let existing = json!({"external_id": "SO-002", "external_source": "SAP", "job_number": "OLD"});
    let before = server
        .put("/api-jobs/sync", &key, &existing)
        .await
        .expect(201);
    let body = json!({
      "jobs": [
        {
          "external_id": "SO-001",
          "external_source": "SAP",
          "job_number": "JOB-001",
          "customer": "Customer A"
        },
        {
          "external_id": "SO-002",
          "external_source": "SAP",
          "job_number": "JOB-002",
          "customer": "Customer B"
        }
      ]
    });
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &body)
        .await
        .expect(200);
    let data = reply.data();
    assert_eq!(data["total"], 2);
    assert_eq!(data["created"], 1);
    assert_eq!(data["updated"], 1);
    assert_eq!(data["errors"], 0);
    let results = data["results"].as_array().unwrap();
    assert_eq!(results[0]["external_id"], "SO-001");
    assert_eq!(results[0]["action"], "created");
    assert_eq!(results[0]["index"], 0);
    assert_uuid(&results[0]["id"]);
    assert_eq!(results[1]["external_id"], "SO-002");
    assert_eq!(results[1]["action"], "updated");
    assert_eq!(results[1]["id"], before.data()["id"]);
    let jobs = server.all("jobs", &key).await;
    let updated = jobs.iter().find(|j| j["external_id"] == "SO-002").unwrap();
    assert_eq!(updated["job_number"], "JOB-002");
}

async fn part_and_operation_examples(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    seed_cells(&server, &key).await;
    for job in ["SO-12345", "SO-001"] {
        let body = json!({"external_id": job, "external_source": "SAP", "job_number": job});
        server.put("/api-jobs/sync", &key, &body).await.expect(201);
    }
    let part = json!({
      "external_id": "SO-12345-10",
      "external_source": "SAP",
      "job_external_id": "SO-12345",
      "part_number": "BRACKET-A",
      "material": "Steel 304",
      "quantity": 25,
      "notes": "Handle with care"
    });
    let reply = server.put("/api-parts/sync", &key, &part).await.expect(201);
    assert_sync_reply(&reply, "created", "SO-12345-10");

    let bulk = json!({
      "parts": [
        {
          "external_id": "SO-001-10",
          "external_source": "SAP",
          "job_external_id": "SO-001",
          "part_number": "PART-A",
          "quantity": 10
        }
      ]
    });
    let reply = server
        .post("/api-parts/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    assert_eq!(reply.data()["created"], 1);

    let operation = json!({
      "external_id": "SO-12345-10-010",
      "external_source": "SAP",
      "part_external_id": "SO-12345-10",
      "operation_name": "Laser Cut",
      "cell_name": "Cutting",
      "sequence": 1,
      "estimated_time_minutes": 30,
      "notes": "Use 1000W laser"
    });
    let reply = server
        .put("/api-operations/sync", &key, &operation)
        .await
        .expect(201);
    assert_sync_reply(&reply, "created", "SO-12345-10-010");
    let bulk = json!({"operations": [operation]});
    let reply = server
        .post("/api-operations/bulk-sync", &key, &bulk)
        .await
        .expect(200);
    assert_eq!(reply.data()["results"][0]["action"], "updated");
    assert_eq!(reply.data()["unchanged"], 1);

    let parts = server.all("parts", &key).await;
    let bracket = parts
        .iter()
        .find(|p| p["external_id"] == "SO-12345-10")
        .unwrap();
    assert_eq!(bracket["job_external_id"], "SO-12345");
    assert_eq!(bracket["notes"], "Handle with care");
    let operations = server.all("operations", &key).await;
    assert_eq!(operations[0]["part_external_id"], "SO-12345-10");
    assert_eq!(operations[0]["cell_name"], "Cutting");
}

async fn bulk_example_with_errors(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let existing = json!({"external_id": "SO-002", "external_source": "SAP", "job_number": "2"});
    server
        .put("/api-jobs/sync", &key, &existing)
        .await
        .expect(201);
    let body = json!({"jobs": [
        {"external_id": "SO-001", "external_source": "SAP", "job_number": "1"},
        {"external_id": "SO-002", "external_source": "SAP", "job_number": "2b"},
        {"external_id": "SO-003", "external_source": "SAP", "job_number": "3", "due_date": "31/12/2024"}
    ]});
    let reply = server
        .post("/api-jobs/bulk-sync", &key, &body)
        .await
        .expect(200);
    let data = reply.data();
    assert_eq!(
        (
            data["total"].clone(),
            data["created"].clone(),
            data["updated"].clone(),
            data["errors"].clone()
        ),
        (json!(3), json!(1), json!(1), json!(1))
    );
    let error = &data["results"][2];
    assert_eq!(error["external_id"], "SO-003");
    assert_eq!(error["action"], "error");
    assert_eq!(error["code"], "VALIDATION_ERROR");
    assert_eq!(error["field"], "due_date");
    assert!(error["error"].as_str().unwrap().contains("YYYY-MM-DD"));
    assert!(error.get("id").is_none());
    let jobs = server.all("jobs", &key).await;
    assert_eq!(jobs.len(), 2, "the bad record wrote nothing");
}

on_every_engine!(
    single_cell_example,
    single_resource_example,
    single_job_example,
    nested_job_example_creates_the_whole_tree,
    bulk_jobs_example,
    part_and_operation_examples,
    bulk_example_with_errors,
);
