//! The served document: the committed snapshot, and the rules of OpenAPI 3.1 and of this API
//! that every operation follows.
//!
//! The snapshot fails on any drift (`.config/insta.yaml` sets `update: "no"`, so nothing is
//! written on a mismatch). After a deliberate change, review the new document with
//! `cargo insta test --review -- openapi` (cargo-insta) or rewrite it with
//! `INSTA_UPDATE=always cargo test --test api openapi::document`, and commit the `.snap` file.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};

use super::{
    assert_valid_at, errors_at, fetch_document, operation, operations, parameters, pointer_step,
    query_parameters, resolve, target, ENTITIES,
};
use crate::common::{Engine, TestServer};

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_snapshot() {
    let server = TestServer::start(Engine::Sqlite).await;
    let doc = fetch_document(&server).await;
    insta::assert_json_snapshot!("openapi", doc);
}

/// The validator the answer checks use refuses what the document does not allow: an
/// undocumented field, a wrong type, a bad format, a value outside an enum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_checks_refuse_what_the_document_does_not_allow() {
    let server = TestServer::start(Engine::Sqlite).await;
    let doc = fetch_document(&server).await;
    let deleted = "/components/schemas/Deleted";
    let good = json!({"id": "0190a6d2-3c4e-7f00-8a1b-2c3d4e5f6a7b", "external_id": "X",
        "deleted": true, "deleted_parts": 0, "deleted_operations": 0});
    assert_eq!(errors_at(&doc, deleted, &good), Vec::<String>::new());
    for (name, bad) in [
        ("extra", json!("undocumented")),
        ("deleted_parts", json!("1")),
        ("id", json!("not-a-uuid")),
        ("deleted", json!(false)),
    ] {
        let mut value = good.clone();
        value[name] = bad;
        assert!(
            !errors_at(&doc, deleted, &value).is_empty(),
            "{name}: {value}"
        );
    }
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
        // Every keyed write takes one (`http::idempotency::guard`); a read keeps none.
        let writes = !public && method != "get";
        assert_eq!(takes_key, writes, "{context}: Idempotency-Key");
        if writes {
            let success = ["200", "201", "202"]
                .iter()
                .find_map(|status| op["responses"].get(*status))
                .unwrap_or_else(|| panic!("{context}: no success answer"));
            assert!(
                resolve(&doc, success)["headers"]["Idempotent-Replayed"].is_object(),
                "{context}"
            );
            let conflict = resolve(&doc, &op["responses"]["409"]).to_string();
            assert!(conflict.contains("IDEMPOTENCY_IN_PROGRESS"), "{context}");
        }
        if is_sync {
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
            let schema = format!(
                "/paths/{}/{method}/requestBody/content/application~1json/schema",
                pointer_step(&path)
            );
            for (name, example) in examples {
                assert_valid_at(
                    &doc,
                    &schema,
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
