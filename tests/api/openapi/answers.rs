//! The reference's examples are accepted, and what the server answers (successes and errors)
//! is what the document says it answers.

use reqwest::Method;
use serde_json::json;

use super::{assert_documented, fetch_document, request_examples, ENTITIES};
use crate::common::{Engine, TestServer};
use crate::on_every_engine;

async fn reference_examples_are_accepted_and_answers_match_the_schemas(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let doc = fetch_document(&server).await;
    // The nested job example routes an operation through this cell, which no example creates.
    let bending = json!({"external_id": "WC-BENDING", "external_source": "SAP", "name": "Bending"});
    let reply = server.put("/api-cells/sync", &key, &bending).await;
    assert_documented(&doc, "/api-cells/sync", "put", &reply.expect(201));

    for entity in ["cells", "resources", "jobs", "parts", "operations"] {
        let path = format!("/api-{entity}/sync");
        for (name, example) in request_examples(&doc, &path, "put") {
            let reply = server.put(&path, &key, &example).await;
            assert!(
                [200, 201].contains(&reply.status.as_u16()),
                "{path} example {name}: {:#}",
                reply.body
            );
            assert_documented(&doc, &path, "put", &reply);
        }
        let path = format!("/api-{entity}/bulk-sync");
        for (name, example) in request_examples(&doc, &path, "post") {
            let reply = server.post(&path, &key, &example).await.expect(200);
            assert_eq!(
                reply.data()["errors"],
                0,
                "{path} example {name}: {:#}",
                reply.body
            );
            assert_documented(&doc, &path, "post", &reply);
        }
    }

    let new_cell = json!({"external_id": "WC-NEW", "external_source": "SAP", "name": "New"});
    let reply = server
        .put("/api-cells/sync?dry_run=true", &key, &new_cell)
        .await
        .expect(201);
    assert!(reply.data().get("id").is_none());
    assert_documented(&doc, "/api-cells/sync", "put", &reply);
    let mixed = json!({"cells": [new_cell, {"external_id": "WC-BAD", "external_source": "SAP", "name": "Bad", "color": "red"}]});
    let reply = server
        .post("/api-cells/bulk-sync", &key, &mixed)
        .await
        .expect(200);
    assert_eq!(reply.data()["errors"], 1);
    assert_documented(&doc, "/api-cells/bulk-sync", "post", &reply);
    let mut routing = request_examples(&doc, "/api-jobs/sync", "put")
        .into_iter()
        .find(|(name, _)| name == "job_with_parts")
        .unwrap()
        .1;
    routing["parts"][0]["operations"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    let reply = server
        .put("/api-jobs/sync?children=replace", &key, &routing)
        .await
        .expect(200);
    let operations = reply.data()["parts"][0]["operations"].as_array().unwrap();
    assert!(
        operations.iter().any(|o| o["action"] == "deleted"),
        "{:#}",
        reply.body
    );
    assert_documented(&doc, "/api-jobs/sync", "put", &reply);

    for entity in ENTITIES {
        let list_path = format!("/api-{entity}");
        let reply = server.get(&list_path, &key).await.expect(200);
        assert_documented(&doc, &list_path, "get", &reply);
        let first = reply.data()[entity][0].clone();
        let id = first["id"].as_str().unwrap();
        let reply = server
            .get(&format!("{list_path}/{id}"), &key)
            .await
            .expect(200);
        assert_documented(&doc, &format!("{list_path}/{{id}}"), "get", &reply);
        let by_external = format!(
            "{list_path}/by-external/{}/{}",
            first["external_source"].as_str().unwrap(),
            first["external_id"].as_str().unwrap()
        );
        let reply = server.get(&by_external, &key).await.expect(200);
        let template = format!("{list_path}/by-external/{{external_source}}/{{external_id}}");
        assert_documented(&doc, &template, "get", &reply);
    }
    let jobs = server.all("jobs", &key).await;
    let job = jobs
        .iter()
        .find(|j| j["external_id"] == "SO-12345")
        .unwrap();
    let reply = server
        .get(&format!("/api-jobs/{}", job["id"].as_str().unwrap()), &key)
        .await
        .expect(200);
    assert_eq!(
        reply.data()["parts"][0]["operations"][0]["cell_name"],
        "Cutting"
    );
    assert_documented(&doc, "/api-jobs/{id}", "get", &reply);

    let reply = server
        .send(
            Method::DELETE,
            "/api-resources/by-external/SAP/TOOL-001",
            Some(&key),
            None,
            None,
        )
        .await
        .expect(200);
    assert_documented(
        &doc,
        "/api-resources/by-external/{external_source}/{external_id}",
        "delete",
        &reply,
    );
    let other = jobs.iter().find(|j| j["external_id"] == "SO-002").unwrap();
    let reply = server
        .send(
            Method::DELETE,
            &format!("/api-jobs/{}", other["id"].as_str().unwrap()),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(200);
    assert_documented(&doc, "/api-jobs/{id}", "delete", &reply);
    let reply = server
        .send(
            Method::DELETE,
            "/api-cells/by-external/SAP/WC-CUTTING",
            Some(&key),
            None,
            None,
        )
        .await
        .expect(409);
    assert_documented(
        &doc,
        "/api-cells/by-external/{external_source}/{external_id}",
        "delete",
        &reply,
    );

    let reply = server.get("/api-sync/imports", &key).await.expect(200);
    assert_documented(&doc, "/api-sync/imports", "get", &reply);
    let entry = reply.data()["imports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["errors"] == 1)
        .expect("the mixed bulk call")
        .clone();
    let reply = server
        .get(
            &format!("/api-sync/imports/{}", entry["id"].as_str().unwrap()),
            &key,
        )
        .await
        .expect(200);
    assert_documented(&doc, "/api-sync/imports/{id}", "get", &reply);
    let reply = server
        .send(Method::GET, "/healthz", None, None, None)
        .await
        .expect(200);
    assert_documented(&doc, "/healthz", "get", &reply);

    let reply = server
        .get(&format!("/api-parts/{}", uuid::Uuid::now_v7()), &key)
        .await
        .expect(404);
    assert_documented(&doc, "/api-parts/{id}", "get", &reply);
    let reply = server
        .put("/api-jobs/sync", &key, &json!({}))
        .await
        .expect(400);
    assert_documented(&doc, "/api-jobs/sync", "put", &reply);
    let orphan = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "NOPE", "part_number": "p"});
    let reply = server
        .put("/api-parts/sync", &key, &orphan)
        .await
        .expect(422);
    assert_documented(&doc, "/api-parts/sync", "put", &reply);
    let reply = server
        .send(Method::GET, "/api-jobs", None, None, None)
        .await
        .expect(401);
    assert_documented(&doc, "/api-jobs", "get", &reply);
    let reply = server
        .send(
            Method::PUT,
            "/api-cells/sync",
            Some(&key),
            Some(b"name=x".to_vec()),
            Some("application/x-www-form-urlencoded"),
        )
        .await
        .expect(415);
    assert_documented(&doc, "/api-cells/sync", "put", &reply);
}

on_every_engine!(reference_examples_are_accepted_and_answers_match_the_schemas);
