//! What the document says a request may carry (required and optional fields, query
//! parameters) is what the server accepts and refuses.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    assert_refused, assert_synced, fetch_document, minimal, operations, query_parameters,
    request_schema, required_names, resolve, sample, seed_minimal, with, without, ENTITIES,
};
use crate::common::{Engine, TestServer};
use crate::on_every_engine;

async fn schema_required_fields_are_what_the_server_requires(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let doc = fetch_document(&server).await;
    seed_minimal(&server, &key, &doc).await;

    for entity in ["cells", "resources", "jobs", "parts", "operations"] {
        let path = format!("/api-{entity}/sync");
        let schema = request_schema(&doc, &path, "put");
        let base = minimal(&doc, schema);
        let required = required_names(schema);
        for name in &required {
            let context = format!("{path} without {name}");
            assert_refused(
                &server.put(&path, &key, &without(&base, name)).await,
                name,
                &context,
            );
            let context = format!("{path} with {name}: null");
            assert_refused(
                &server
                    .put(&path, &key, &with(&base, name, Value::Null))
                    .await,
                name,
                &context,
            );
        }
        for (name, property) in schema["properties"].as_object().unwrap() {
            if required.contains(&name.as_str()) {
                continue;
            }
            let nullable = property["type"]
                .as_array()
                .is_some_and(|kinds| kinds.contains(&json!("null")));
            let value = if nullable {
                Value::Null
            } else {
                sample(&doc, property)
            };
            let body = with(&base, name, value.clone());
            assert_synced(
                &server.put(&path, &key, &body).await,
                &format!("{path} with optional {name}: {value}"),
            );
        }
        let context = format!("{path} with an unknown field");
        assert_refused(
            &server
                .put(&path, &key, &with(&base, "colour", json!("x")))
                .await,
            "colour",
            &context,
        );

        let bulk = format!("/api-{entity}/bulk-sync");
        let bulk_schema = request_schema(&doc, &bulk, "post");
        assert_eq!(bulk_schema["required"], json!([entity]));
        assert_refused(&server.post(&bulk, &key, &json!({})).await, entity, &bulk);
        let reply = server
            .post(&bulk, &key, &json!({ entity: [base] }))
            .await
            .expect(200);
        assert_eq!(reply.data()["errors"], 0, "{bulk}: {:#}", reply.body);
    }

    // Nested parts and operations have schemas of their own: they inherit source and parent.
    let job_schema = request_schema(&doc, "/api-jobs/sync", "put");
    let job = minimal(&doc, job_schema);
    let part_schema = resolve(&doc, &job_schema["properties"]["parts"]["items"]);
    let operation_schema = resolve(&doc, &part_schema["properties"]["operations"]["items"]);
    let part = minimal(&doc, part_schema);
    let operation = minimal(&doc, operation_schema);
    let nested = |part: Value| with(&job, "parts", json!([part]));
    let reply = server
        .put(
            "/api-jobs/sync",
            &key,
            &nested(with(&part, "operations", json!([operation]))),
        )
        .await;
    assert_synced(&reply, "a minimal nested job");
    for name in part_schema["required"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let reply = server
            .put("/api-jobs/sync", &key, &nested(without(&part, name)))
            .await;
        assert_refused(&reply, &format!("parts[0].{name}"), "nested part");
    }
    for name in operation_schema["required"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        let body = nested(with(
            &part,
            "operations",
            json!([without(&operation, name)]),
        ));
        let reply = server.put("/api-jobs/sync", &key, &body).await;
        assert_refused(
            &reply,
            &format!("parts[0].operations[0].{name}"),
            "nested operation",
        );
    }
}

/// A value for a query parameter; `cursor` and the feed's `after` take ones the server handed
/// out.
fn query_sample(doc: &Value, param: &Value, cursors: &(String, String)) -> String {
    if param["name"] == "cursor" {
        return cursors.0.clone();
    }
    if param["name"] == "after" {
        return cursors.1.clone();
    }
    match sample(doc, &param["schema"]) {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

async fn documented_query_parameters_are_the_accepted_ones(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let doc = fetch_document(&server).await;
    seed_minimal(&server, &key, &doc).await;
    let page = server.get("/api-jobs?limit=1", &key).await.expect(200);
    let feed = server.get("/api-events?limit=1", &key).await.expect(200);
    let cursor = (
        page.data()["pagination"]["next_cursor"]
            .as_str()
            .expect("a full page has a cursor")
            .to_owned(),
        feed.data()["next_cursor"].as_str().unwrap().to_owned(),
    );
    // A parameter naming a record takes a real one's id.
    let operation_id = server.all("operations", &key).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Every query parameter any operation documents, with a value valid where it is documented.
    let mut everywhere = BTreeMap::new();
    for (_, _, op) in operations(&doc) {
        for param in query_parameters(&doc, op) {
            everywhere
                .entry(param["name"].as_str().unwrap().to_owned())
                .or_insert_with(|| query_sample(&doc, param, &cursor));
        }
    }
    for (path, method, op) in operations(&doc) {
        let params = query_parameters(&doc, op);
        if params.is_empty() {
            continue;
        }
        let entity = path
            .strip_prefix("/api-")
            .and_then(|rest| rest.split('/').next())
            .filter(|e| ENTITIES.contains(e));
        // The webhook routes name an endpoint; each call gets a new one, since one deletes it.
        let webhook = match path.starts_with("/api-webhook") {
            true => Some(
                server
                    .post(
                        "/api-webhooks",
                        &key,
                        &json!({"url": "https://erp.example/hook", "events": ["job.*"]}),
                    )
                    .await
                    .expect(201)
                    .data()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            false => None,
        };
        let body = match (method.as_str(), entity) {
            ("patch", None) => Some(json!({})),
            ("put", Some(_)) => Some(minimal(&doc, request_schema(&doc, &path, "put"))),
            ("post", Some(entity)) => Some(json!({
                entity: [minimal(&doc, request_schema(&doc, &path.replace("bulk-sync", "sync"), "put"))]
            })),
            _ => None,
        };
        let mut concrete = path
            .replace("{external_source}", "X")
            .replace("{external_id}", "X")
            .replace("{action}", "start");
        if let Some(webhook) = &webhook {
            concrete = concrete.replace("{id}", webhook);
        }
        // A lifecycle action needs a record in the right state, and `user_id` an `id` beside
        // it: `floor::floor_and_feed_answers_match_the_schemas` sends them their documented
        // parameters. Here they only refuse the undocumented ones.
        let lifecycle = path.contains("{action}");
        if let Some(entity) = entity.filter(|_| path.contains("{id}")) {
            let id = server.all(entity, &key).await[0]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            concrete = concrete.replace("{id}", &id);
        }
        let send = |query: String| {
            let (server, key, body) = (&server, &key, body.clone());
            let method: Method = method.to_uppercase().parse().unwrap();
            let url = format!("{concrete}?{query}");
            async move {
                let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
                let content = bytes.as_ref().map(|_| "application/json");
                server
                    .send(method, &url, Some(key.as_str()), bytes, content)
                    .await
            }
        };
        let documented: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
        // A list of an operation's rows needs its operation beside any other parameter.
        let needed = if documented.contains(&"operation_id") {
            format!("operation_id={operation_id}&")
        } else {
            String::new()
        };
        for param in params.iter().filter(|_| !lifecycle) {
            let name = param["name"].as_str().unwrap();
            let value = match name {
                "operation_id" => operation_id.clone(),
                "id" | "webhook_id" if webhook.is_some() => webhook.clone().unwrap(),
                _ => query_sample(&doc, param, &cursor),
            };
            let query = match name {
                "operation_id" => format!("{name}={value}"),
                _ => format!("{needed}{name}={value}"),
            };
            let reply = send(query).await;
            assert!(
                reply.status.is_success(),
                "{} {path}?{name}={value}: {:#}",
                method.to_uppercase(),
                reply.body
            );
        }
        for (name, value) in everywhere
            .iter()
            .filter(|(n, _)| !documented.contains(&n.as_str()))
        {
            let reply = send(format!("{needed}{name}={value}")).await;
            assert_eq!(
                reply.status,
                400,
                "{} {path}?{name}={value} is not documented there: {:#}",
                method.to_uppercase(),
                reply.body
            );
        }
    }
}

// Only what the store decides can differ between engines: the tests decided before the
// store is asked (routing, decoding, validation, headers) run once, on SQLite.
on_every_engine!(
    schema_required_fields_are_what_the_server_requires,
    documented_query_parameters_are_the_accepted_ones,
);
