//! The document lists exactly the routes the server serves, and `/docs` renders it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{fetch_document, operations, ENTITIES};
use crate::common::{Engine, TestServer};
use crate::on_every_engine;

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
    ("/api-operation-quantities", &["get", "post"]),
    ("/api-operation-lifecycle/{action}", &["post"]),
    ("/api-job-lifecycle/{action}", &["post"]),
    (
        "/api-operations/by-external/{external_source}/{external_id}/{action}",
        &["post"],
    ),
    (
        "/api-jobs/by-external/{external_source}/{external_id}/{action}",
        &["post"],
    ),
    ("/api-time-entries", &["get"]),
    ("/api-events", &["get"]),
    ("/api-events/{id}", &["get"]),
    ("/api-sync/imports", &["get"]),
    ("/api-webhooks", &["delete", "get", "patch", "post"]),
    ("/api-webhooks/{id}", &["delete", "get", "patch"]),
    ("/api-webhooks/{id}/rotate-secret", &["post"]),
    ("/api-webhooks/{id}/test", &["post"]),
    ("/api-webhooks/{id}/replay", &["post"]),
    ("/api-webhooks/{id}/deliveries", &["get"]),
    (
        "/api-webhooks/{id}/deliveries/{delivery_id}/retry",
        &["post"],
    ),
    ("/api-webhook-logs", &["get"]),
    ("/api-sync/imports/{id}", &["get"]),
    ("/healthz", &["get"]),
    ("/openapi.json", &["get"]),
    ("/docs", &["get"]),
];

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
        .replace("{delivery_id}", &uuid::Uuid::now_v7().to_string())
        .replace("{external_source}", "SAP")
        .replace("{external_id}", "X")
        .replace("{action}", "start")
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
        if ["put", "post", "patch"].contains(&method.as_str()) {
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
        page.contains("<script src=\"/docs/redoc.standalone.js\""),
        "renders with a script the server serves itself"
    );
    assert!(!page.contains("https://"), "loads nothing from elsewhere");
    let script = client
        .get(format!("{}/docs/redoc.standalone.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"].to_str().unwrap(),
        "text/javascript; charset=utf-8"
    );
    assert!(
        script.bytes().await.unwrap().len() > 500_000,
        "the whole bundle"
    );
    assert!(page.contains("'/openapi.json'"), "renders the document");
    for path in documented.keys() {
        assert!(
            page.contains(&format!("<code>{path}</code>")),
            "the fallback list lacks {path}"
        );
    }
}

on_every_engine!(every_route_is_documented_and_served);
