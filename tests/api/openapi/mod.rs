//! `GET /openapi.json` and `GET /docs`: the document is the one snapshot under `snapshots/`,
//! lists exactly the routes the server serves, and its schemas say what the server really
//! accepts and answers (checked with the `jsonschema` validator, JSON Schema 2020-12, with
//! `format` and `pattern` enforced).

mod answers;
mod document;
mod floor;
mod requests;
mod routes;
mod webhooks;

use serde_json::{json, Map, Value};

use crate::common::{Reply, TestServer};

const ENTITIES: [&str; 5] = ["jobs", "parts", "operations", "cells", "resources"];

pub(crate) async fn fetch_document(server: &TestServer) -> Value {
    let reply = server
        .send(reqwest::Method::GET, "/openapi.json", None, None, None)
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

/// `~` and `/` escaped, so that `name` is one step of a JSON pointer.
fn pointer_step(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The pointer at which `pointer`'s `$ref`s, followed until an object that is not one, end.
fn resolve_pointer(doc: &Value, mut pointer: String) -> String {
    while let Some(reference) = doc
        .pointer(&pointer)
        .and_then(|v| v.get("$ref"))
        .and_then(Value::as_str)
    {
        pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not local"))
            .to_owned();
    }
    pointer
}

/// The document as a JSON Schema resource, closed one step beyond JSON Schema: an object schema
/// with `type` and `properties` and no `additionalProperties` refuses keys neither it nor its
/// `allOf` members declare (`unevaluatedProperties: false`), so an answer carrying an
/// undocumented field fails.
fn closed(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out: Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), closed(v))).collect();
            if map.get("properties").is_some_and(Value::is_object)
                && map.contains_key("type")
                && !map.contains_key("additionalProperties")
            {
                out.insert("unevaluatedProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(closed).collect()),
        other => other.clone(),
    }
}

/// What the schema at `pointer` in the document finds wrong with `value`.
fn errors_at(doc: &Value, pointer: &str, value: &Value) -> Vec<String> {
    assert!(doc.pointer(pointer).is_some(), "no schema at {pointer}");
    // The document is the root resource, so its `#/components/...` references resolve; the
    // OpenAPI keys around the schemas are no JSON Schema keywords and are ignored.
    let mut root = closed(doc);
    // A URI fragment: path templates' braces are percent-encoded.
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    root["$ref"] = json!(format!("#{fragment}"));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}"));
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Checks `value` against the schema at `pointer` in the document.
fn assert_valid_at(doc: &Value, pointer: &str, value: &Value, context: &str) {
    let errors = errors_at(doc, pointer, value);
    assert!(
        errors.is_empty(),
        "{context}: {errors:#?}\nvalue: {value:#}"
    );
}

/// Checks a reply against what the document says `method path` answers with its status.
pub(crate) fn assert_documented(doc: &Value, path: &str, method: &str, reply: &Reply) {
    let context = format!("{} {path} answered {}", method.to_uppercase(), reply.status);
    let at = format!(
        "/paths/{}/{method}/responses/{}",
        pointer_step(path),
        reply.status.as_str()
    );
    assert!(
        doc.pointer(&at).is_some_and(Value::is_object),
        "{context}: status not documented"
    );
    let at = resolve_pointer(doc, at);
    assert_valid_at(
        doc,
        &format!("{at}/content/application~1json/schema"),
        &reply.body,
        &context,
    );
    let headers = doc
        .pointer(&format!("{at}/headers"))
        .unwrap()
        .as_object()
        .unwrap();
    for name in headers.keys() {
        if name != "Idempotent-Replayed" {
            assert!(reply.header(name).is_some(), "{context}: no {name} header");
        }
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
        _ if schema["format"] == "uuid" => json!("0190a0b0-0000-7000-8000-000000000000"),
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
