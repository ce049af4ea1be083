//! `GET /openapi.json` and `GET /docs`: the document is well-formed OpenAPI 3.1, lists exactly
//! the routes the server serves, and its schemas say what the server really accepts and answers.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::common::{Engine, Reply, TestServer};
use crate::on_every_engine;

const ENTITIES: [&str; 5] = ["jobs", "parts", "operations", "cells", "resources"];

/// Every route `src/http/mod.rs` registers, with its methods. Keep in step with the router: a
/// route added there and here but not to the document fails
/// `every_route_is_documented_and_served`.
const ENTITY_ROUTES: &[(&str, &[&str])] = &[
    ("/api-{entity}/sync", &["put"]),
    ("/api-{entity}/bulk-sync", &["post"]),
    ("/api-{entity}", &["get"]),
    ("/api-{entity}/{id}", &["delete", "get"]),
    (
        "/api-{entity}/by-external/{external_source}/{external_id}",
        &["delete", "get"],
    ),
];
const OTHER_ROUTES: &[(&str, &[&str])] = &[
    ("/api-sync/imports", &["get"]),
    ("/api-sync/imports/{id}", &["get"]),
    ("/healthz", &["get"]),
    ("/openapi.json", &["get"]),
    ("/docs", &["get"]),
];

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

async fn fetch_document(server: &TestServer) -> Value {
    let reply = server
        .send(Method::GET, "/openapi.json", None, None, None)
        .await
        .expect(200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.body
}

/// The value a local `$ref` points at.
fn target<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference
        .strip_prefix('#')
        .unwrap_or_else(|| panic!("{reference} is not local"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("{reference} does not resolve"))
}

/// Follows `$ref`s until an object that is not one.
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        value = target(doc, reference);
    }
    value
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            all.push((path.clone(), method.clone(), operation));
        }
    }
    all
}

fn operation<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let operation = &doc["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    operation
}

fn parameters<'a>(doc: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
    operation["parameters"]
        .as_array()
        .map(|ps| ps.iter().map(|p| resolve(doc, p)).collect())
        .unwrap_or_default()
}

fn query_parameters<'a>(doc: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
    parameters(doc, operation)
        .into_iter()
        .filter(|p| p["in"] == "query")
        .collect()
}

fn template_names(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .map(|rest| rest.split('}').next().unwrap().to_owned())
        .collect()
}

fn walk_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                refs.push(reference.clone());
            }
            map.values().for_each(|v| walk_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| walk_refs(v, refs)),
        _ => {}
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("unknown type {other}"),
    }
}

/// Property names a schema declares, including those of its `allOf` members.
fn declared_properties(doc: &Value, schema: &Value) -> HashSet<String> {
    let schema = resolve(doc, schema);
    let mut names: HashSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for member in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(declared_properties(doc, member));
    }
    names
}

/// A JSON Schema check of the keywords the document uses (not `pattern` or `format`: the
/// script `scripts/check-openapi.sh` checks those with a full validator). Stricter than JSON
/// Schema on one point: an object schema with `type` and `properties` refuses keys it does not
/// declare, so an answer carrying an undocumented field fails.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        validate(doc, target(doc, reference), value, at, errors);
    }
    if let Some(kind) = schema.get("type") {
        let names: Vec<&str> = match kind {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type {kind}"),
        };
        if !names.iter().any(|name| has_type(value, name)) {
            errors.push(format!("{at}: {value} is not of type {kind}"));
            return;
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            errors.push(format!("{at}: {value} is not one of {values:?}"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            errors.push(format!("{at}: {value} is not {constant}"));
        }
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if schema["maxLength"].as_u64().is_some_and(|max| chars > max) {
            errors.push(format!("{at}: longer than maxLength"));
        }
        if schema["minLength"].as_u64().is_some_and(|min| chars < min) {
            errors.push(format!("{at}: shorter than minLength"));
        }
    }
    if let Some(number) = value.as_f64().filter(|_| value.is_number()) {
        if schema["minimum"].as_f64().is_some_and(|min| number < min) {
            errors.push(format!("{at}: {number} below minimum"));
        }
        if schema["maximum"].as_f64().is_some_and(|max| number > max) {
            errors.push(format!("{at}: {number} above maximum"));
        }
    }
    if let Some(items) = value.as_array() {
        if schema["maxItems"]
            .as_u64()
            .is_some_and(|max| items.len() as u64 > max)
        {
            errors.push(format!("{at}: more than maxItems"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(doc, item_schema, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
    if let Some(object) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                errors.push(format!("{at}: missing required {name}"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, property) in properties.into_iter().flatten() {
            if let Some(member) = object.get(name) {
                validate(doc, property, member, &format!("{at}.{name}"), errors);
            }
        }
        let closed = schema.get("additionalProperties") == Some(&json!(false))
            || (schema.get("additionalProperties").is_none()
                && schema.get("type").is_some()
                && properties.is_some());
        if closed {
            let declared = declared_properties(doc, schema);
            for name in object.keys().filter(|k| !declared.contains(*k)) {
                errors.push(format!("{at}: undocumented field {name}"));
            }
        }
    }
    for member in schema["allOf"].as_array().into_iter().flatten() {
        validate(doc, member, value, at, errors);
    }
    if let Some(members) = schema["oneOf"].as_array() {
        let passing = members
            .iter()
            .filter(|member| {
                let mut inner = Vec::new();
                validate(doc, member, value, at, &mut inner);
                inner.is_empty()
            })
            .count();
        if passing != 1 {
            errors.push(format!(
                "{at}: matches {passing} of oneOf, not exactly one: {value}"
            ));
        }
    }
}

fn assert_valid(doc: &Value, schema: &Value, value: &Value, context: &str) {
    let mut errors = Vec::new();
    validate(doc, schema, value, "$", &mut errors);
    assert!(
        errors.is_empty(),
        "{context}: {errors:#?}\nvalue: {value:#}"
    );
}

/// Checks a reply against what the document says `method path` answers with its status.
fn assert_documented(doc: &Value, path: &str, method: &str, reply: &Reply) {
    let context = format!("{} {path} answered {}", method.to_uppercase(), reply.status);
    let response = &operation(doc, path, method)["responses"][reply.status.as_str()];
    assert!(response.is_object(), "{context}: status not documented");
    let response = resolve(doc, response);
    let schema = &response["content"]["application/json"]["schema"];
    assert_valid(doc, schema, &reply.body, &context);
    let headers = response["headers"].as_object().unwrap();
    for name in headers.keys() {
        if name != "Idempotent-Replayed" {
            assert!(reply.header(name).is_some(), "{context}: no {name} header");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_3_1() {
    let server = TestServer::start(Engine::Sqlite).await;
    let doc = fetch_document(&server).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert!(!doc["paths"].as_object().unwrap().is_empty());
    let bearer = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(
        (&bearer["type"], &bearer["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    assert_eq!(doc["security"], json!([{"bearerAuth": []}]));

    let mut refs = Vec::new();
    walk_refs(&doc, &mut refs);
    assert!(refs.len() > 50, "the document shares its parts by $ref");
    for reference in &refs {
        target(&doc, reference);
    }

    let mut ids = HashSet::new();
    for (path, method, op) in operations(&doc) {
        let context = format!("{method} {path}");
        assert!(HTTP_METHODS.contains(&method.as_str()), "{context}");
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(
            ids.insert(id.to_owned()),
            "{context}: operationId {id} repeats"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{context}: no responses");
        for (status, response) in responses {
            let response = resolve(&doc, response);
            assert!(response["description"].is_string(), "{context} {status}");
            let headers = &response["headers"];
            assert!(headers["X-Request-Id"].is_object(), "{context} {status}");
            if status == "429" || status == "503" {
                assert!(headers["Retry-After"].is_object(), "{context} {status}");
            }
            if path.starts_with("/api-") && !["401", "408"].contains(&status.as_str()) {
                for name in [
                    "X-RateLimit-Limit",
                    "X-RateLimit-Remaining",
                    "X-RateLimit-Reset",
                ] {
                    assert!(headers[name].is_object(), "{context} {status}: {name}");
                }
            }
            if let Some(schema) = response["content"]["application/json"]["schema"].as_object() {
                assert!(!schema.is_empty(), "{context} {status}");
            }
        }

        let params = parameters(&doc, op);
        let mut seen = HashSet::new();
        for param in &params {
            let key = (
                param["name"].as_str().unwrap(),
                param["in"].as_str().unwrap(),
            );
            assert!(seen.insert(key), "{context}: {key:?} twice");
            assert!(
                param["schema"].is_object(),
                "{context}: {key:?} has no schema"
            );
        }
        let declared: BTreeSet<String> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(
                    p["required"], true,
                    "{context}: path parameters are required"
                );
                p["name"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            declared,
            template_names(&path),
            "{context}: path parameters"
        );

        let public = !path.starts_with("/api-");
        if public {
            assert_eq!(op["security"], json!([]), "{context} needs no key");
        } else {
            assert!(
                op.get("security").is_none(),
                "{context} takes the bearer key"
            );
        }
        let is_sync = path.ends_with("/sync") || path.ends_with("/bulk-sync");
        let takes_key = params
            .iter()
            .any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key");
        assert_eq!(takes_key, is_sync, "{context}: Idempotency-Key");
        if is_sync {
            let response = resolve(&doc, &op["responses"]["200"]);
            assert!(
                response["headers"]["Idempotent-Replayed"].is_object(),
                "{context}"
            );
            let query: Vec<&str> = query_parameters(&doc, op)
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert!(query.contains(&"dry_run"), "{context}");
            assert_eq!(
                query.contains(&"children"),
                path.starts_with("/api-jobs/"),
                "{context}"
            );
        }

        if let Some(body) = op.get("requestBody") {
            let media = &body["content"]["application/json"];
            let examples = media["examples"].as_object().expect("request examples");
            assert!(!examples.is_empty(), "{context}: no example");
            for (name, example) in examples {
                assert_valid(
                    &doc,
                    &media["schema"],
                    &example["value"],
                    &format!("{context} example {name}"),
                );
            }
        }
    }
    for entity in ENTITIES {
        let list = operation(&doc, &format!("/api-{entity}"), "get");
        let names: Vec<&str> = query_parameters(&doc, list)
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in [
            "external_source",
            "external_id",
            "search",
            "updated_since",
            "sort",
            "order",
            "limit",
            "offset",
            "cursor",
            "include_deleted",
        ] {
            assert!(names.contains(&name), "GET /api-{entity}: {name}");
        }
    }
}

fn expanded_routes() -> BTreeMap<String, Vec<String>> {
    let mut routes = BTreeMap::new();
    for (template, methods) in ENTITY_ROUTES {
        for entity in ENTITIES {
            routes.insert(
                template.replace("{entity}", entity),
                methods.iter().map(|m| m.to_string()).collect(),
            );
        }
    }
    for (path, methods) in OTHER_ROUTES {
        routes.insert(
            path.to_string(),
            methods.iter().map(|m| m.to_string()).collect(),
        );
    }
    routes
}

fn filled(path: &str) -> String {
    path.replace("{id}", &uuid::Uuid::now_v7().to_string())
        .replace("{external_source}", "SAP")
        .replace("{external_id}", "X")
}

async fn every_route_is_documented_and_served(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let doc = fetch_document(&server).await;

    let documented: BTreeMap<String, Vec<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let mut methods: Vec<String> = item.as_object().unwrap().keys().cloned().collect();
            methods.sort();
            (path.clone(), methods)
        })
        .collect();
    assert_eq!(documented, expanded_routes());

    let unknown = server.get("/no-such-route", &key).await.expect(404);
    let unknown_message = unknown.body["error"]["message"].clone();
    let client = reqwest::Client::new();
    for (path, method, op) in operations(&doc) {
        let mut request = client
            .request(
                method.to_uppercase().parse().unwrap(),
                format!("{}{}", server.base, filled(&path)),
            )
            .bearer_auth(&key);
        if method == "put" || method == "post" {
            request = request
                .header("content-type", "application/json")
                .body("{}");
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let context = format!("{} {path} answered {status}", method.to_uppercase());
        let bytes = response.bytes().await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_ne!(status, 405, "{context}");
        assert!(
            !(status == 404 && body["error"]["message"] == unknown_message),
            "{context}: the router does not know it"
        );
        assert!(
            op["responses"][status.as_str()].is_object(),
            "{context}: status not documented"
        );
    }

    let page = client
        .get(format!("{}/docs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    let page = page.text().await.unwrap();
    assert!(
        page.contains("<script src=\"https://"),
        "renders with a script"
    );
    assert!(page.contains("'/openapi.json'"), "renders the document");
    for path in documented.keys() {
        assert!(
            page.contains(&format!("<code>{path}</code>")),
            "the fallback list lacks {path}"
        );
    }
}

fn request_schema<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    resolve(
        doc,
        &operation(doc, path, method)["requestBody"]["content"]["application/json"]["schema"],
    )
}

fn request_examples(doc: &Value, path: &str, method: &str) -> Vec<(String, Value)> {
    operation(doc, path, method)["requestBody"]["content"]["application/json"]["examples"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, example)| (name.clone(), example["value"].clone()))
        .collect()
}

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

/// Some value a schema allows; text is always `X`, so that minimal records of every entity
/// refer to each other (a part of job `X`, an operation in cell `X`).
fn sample(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    if let Some(first) = schema["enum"].as_array().and_then(|v| v.first()) {
        return first.clone();
    }
    if let Some(first) = schema["examples"].as_array().and_then(|v| v.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds[0].as_str().unwrap().to_owned(),
        kind => kind.as_str().unwrap_or("string").to_owned(),
    };
    match kind.as_str() {
        "integer" | "number" => schema
            .get("default")
            .or(schema.get("minimum"))
            .cloned()
            .unwrap_or(json!(0)),
        "boolean" => json!(true),
        "object" => json!({}),
        "array" => json!([]),
        _ if schema["format"] == "date" => json!("2024-12-31"),
        _ => json!("X"),
    }
}

/// The required fields, plus the first of each pair of alternatives (`job_external_id` or
/// `job_id`: exactly one must be sent).
fn required_names(schema: &Value) -> Vec<&str> {
    let required = schema["required"].as_array().unwrap().iter();
    let first_alternatives = schema["allOf"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|pair| &pair["oneOf"][0]["required"][0]);
    required
        .chain(first_alternatives)
        .map(|n| n.as_str().unwrap())
        .collect()
}

fn minimal(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    let mut body = Map::new();
    for name in required_names(schema) {
        body.insert(name.to_owned(), sample(doc, &schema["properties"][name]));
    }
    Value::Object(body)
}

fn without(body: &Value, name: &str) -> Value {
    let mut body = body.clone();
    body.as_object_mut().unwrap().remove(name);
    body
}

fn with(body: &Value, name: &str, value: Value) -> Value {
    let mut body = body.clone();
    body[name] = value;
    body
}

fn assert_refused(reply: &Reply, field: &str, context: &str) {
    assert_eq!(reply.status, 400, "{context}: {:#}", reply.body);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR", "{context}");
    assert_eq!(
        reply.body["error"]["details"][0]["field"], field,
        "{context}: {:#}",
        reply.body
    );
}

fn assert_synced(reply: &Reply, context: &str) {
    assert!(
        [200, 201].contains(&reply.status.as_u16()),
        "{context}: {:#}",
        reply.body
    );
}

/// Syncs the minimal record of every entity, in dependency order.
async fn seed_minimal(server: &TestServer, key: &str, doc: &Value) {
    for entity in ["cells", "resources", "jobs", "parts", "operations"] {
        let path = format!("/api-{entity}/sync");
        let body = minimal(doc, request_schema(doc, &path, "put"));
        let reply = server.put(&path, key, &body).await;
        assert_synced(&reply, &format!("{path} {body}"));
    }
}

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

/// A value for a query parameter; `cursor` takes one the server handed out.
fn query_sample(doc: &Value, param: &Value, cursor: &str) -> String {
    if param["name"] == "cursor" {
        return cursor.to_owned();
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
    let cursor = page.data()["pagination"]["next_cursor"]
        .as_str()
        .expect("a full page has a cursor")
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
        let body = match (method.as_str(), entity) {
            ("put", Some(_)) => Some(minimal(&doc, request_schema(&doc, &path, "put"))),
            ("post", Some(entity)) => Some(json!({
                entity: [minimal(&doc, request_schema(&doc, &path.replace("bulk-sync", "sync"), "put"))]
            })),
            _ => None,
        };
        let mut concrete = path
            .replace("{external_source}", "X")
            .replace("{external_id}", "X");
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
        for param in &params {
            let name = param["name"].as_str().unwrap();
            let value = query_sample(&doc, param, &cursor);
            let reply = send(format!("{name}={value}")).await;
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
            let reply = send(format!("{name}={value}")).await;
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
    every_route_is_documented_and_served,
    reference_examples_are_accepted_and_answers_match_the_schemas,
    schema_required_fields_are_what_the_server_requires,
    documented_query_parameters_are_the_accepted_ones,
);
