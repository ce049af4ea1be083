//! Drop-in compatibility with clients of Eryxon's hosted API, and CORS for browser tools.

use reqwest::Method;
use serde_json::json;

use crate::common::{Engine, Options, TestServer};
use crate::on_every_engine;

async fn hosted_api_paths_and_aliases_work(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cells =
        json!({"items": [{"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"}]});
    let reply = server
        .post("/functions/v1/api-cells/bulk-sync", &key, &cells)
        .await
        .expect(200);
    assert_eq!(reply.data()["created"], 1);
    let job = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "1",
        "parts": [{"external_id": "P-1", "part_number": "p", "operations": [
            {"external_id": "O-1", "operation_name": "cut", "cell_name": "Cutting", "estimated_time": 42}]}]});
    server
        .put("/functions/v1/api-jobs/sync", &key, &job)
        .await
        .expect(201);
    let operations = server.all("operations", &key).await;
    assert_eq!(operations[0]["estimated_time_minutes"], 42);
    // Both names at once: one field sent twice, said as such.
    let both = json!({"external_id": "O-1", "external_source": "SAP", "part_external_id": "P-1",
        "operation_name": "cut", "estimated_time": 42, "estimated_time_minutes": 30});
    let refused = server
        .put("/api-operations/sync", &key, &both)
        .await
        .expect(400);
    let detail = &refused.body["error"]["details"][0];
    assert_eq!(detail["field"], "estimated_time_minutes");
    let message = detail["message"].as_str().unwrap();
    assert!(message.contains("under two of its names"), "{message}");
    for i in 2..4 {
        let more = json!({"external_id": format!("SO-{i}"), "external_source": "SAP", "job_number": format!("{i}")});
        server.put("/api-jobs/sync", &key, &more).await.expect(201);
    }
    let listed = server
        .get(
            "/functions/v1/api-jobs?sort=job_number&direction=desc&search=",
            &key,
        )
        .await
        .expect(200);
    let numbers: Vec<_> = listed.data()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_number"].clone())
        .collect();
    assert_eq!(numbers, [json!("3"), json!("2"), json!("1")]);
    let unauthenticated = server
        .send(Method::GET, "/functions/v1/api-jobs", None, None, None)
        .await
        .expect(401);
    assert_eq!(unauthenticated.error_code(), "UNAUTHORIZED");
    server
        .get("/functions/v1/api-nothing", &key)
        .await
        .expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_configured_origins() {
    let options = Options {
        cors_origins: vec!["https://admin.example.com".to_owned()],
        ..Options::default()
    };
    let server = TestServer::start_with(Engine::Sqlite, options).await;
    let key = server.key("acme").await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(
                Method::OPTIONS,
                format!("{}/api-jobs/bulk-sync", server.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let allowed = preflight("https://admin.example.com").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    // Every method of the API, so that a browser page can make every call.
    let doc = crate::openapi::fetch_document(&server).await;
    let used: std::collections::BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().keys().map(|m| m.to_uppercase()))
        .filter(|m| m != "PARAMETERS")
        .collect();
    assert!(used.contains("PATCH"), "{used:?}");
    for method in used {
        assert!(methods.contains(&method), "{method} in {methods}");
    }
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(headers.contains("idempotency-key"), "{headers}");
    let refused = preflight("https://evil.example.net").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let read = client
        .get(format!("{}/api-jobs", server.base))
        .bearer_auth(&key)
        .header("origin", "https://admin.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(
        read.headers()["access-control-allow-origin"],
        "https://admin.example.com"
    );
    let exposed = read.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("x-ratelimit-remaining"), "{exposed}");

    let closed = TestServer::start(Engine::Sqlite).await;
    let reply = client
        .get(format!("{}/healthz", closed.base))
        .header("origin", "https://admin.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        reply.headers().get("access-control-allow-origin").is_none(),
        "none by default"
    );
}

async fn parents_may_be_named_by_internal_id(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let other = server.key("globex").await;
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"});
    let cell_id = server
        .put("/api-cells/sync", &key, &cell)
        .await
        .expect(201)
        .data()["id"]
        .clone();
    let job = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "1"});
    let job_id = server
        .put("/api-jobs/sync", &key, &job)
        .await
        .expect(201)
        .data()["id"]
        .clone();

    let part = json!({"external_id": "P-1", "external_source": "ERP2", "job_id": job_id, "part_number": "p"});
    let part_id = server
        .put("/api-parts/sync", &key, &part)
        .await
        .expect(201)
        .data()["id"]
        .clone();
    let operation = json!({"external_id": "O-1", "external_source": "ERP2", "part_id": part_id,
        "operation_name": "cut", "cell_id": cell_id});
    server
        .put("/functions/v1/api-operations/sync", &key, &operation)
        .await
        .expect(201);
    let stored = &server.all("operations", &key).await[0];
    assert_eq!(stored["part_external_id"], "P-1");
    assert_eq!(stored["cell_name"], "Cutting");
    assert_eq!(
        server.all("parts", &key).await[0]["job_external_id"],
        "SO-1"
    );

    // Another tenant's ids name nothing.
    let theirs = server
        .put("/api-parts/sync", &other, &part)
        .await
        .expect(422);
    assert_eq!(theirs.error_code(), "REFERENCE_NOT_FOUND");
    assert_eq!(theirs.body["error"]["details"][0]["field"], "job_id");
    let mut stray = operation.clone();
    stray["cell_id"] = json!(uuid::Uuid::now_v7());
    let reply = server
        .put("/api-operations/sync", &key, &stray)
        .await
        .expect(422);
    assert_eq!(reply.body["error"]["details"][0]["field"], "cell_id");

    let mut both = part.clone();
    both["job_external_id"] = json!("SO-1");
    let reply = server.put("/api-parts/sync", &key, &both).await.expect(400);
    assert_eq!(reply.body["error"]["details"][0]["field"], "job_id");
    let nested = json!({"external_id": "SO-2", "external_source": "SAP", "job_number": "2",
        "parts": [{"external_id": "P-2", "part_number": "p", "job_id": job_id}]});
    let reply = server
        .put("/api-jobs/sync", &key, &nested)
        .await
        .expect(400);
    assert_eq!(
        reply.body["error"]["details"][0]["field"],
        "parts[0].job_id"
    );
    let bad = json!({"external_id": "P-3", "external_source": "SAP", "job_id": "not-a-uuid", "part_number": "p"});
    let reply = server.put("/api-parts/sync", &key, &bad).await.expect(400);
    assert_eq!(reply.body["error"]["details"][0]["field"], "job_id");
}

// Only what the store decides can differ between engines: the tests decided before the
// store is asked (routing, decoding, validation, headers) run once, on SQLite.
on_every_engine!(
    parents_may_be_named_by_internal_id,
    hosted_api_paths_and_aliases_work,
);
