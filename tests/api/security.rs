//! Tenants and modes never see each other's data; revoked keys stop at once.

use eryxon::domain::Mode;
use serde_json::json;

use crate::cli::eryxon;
use crate::common::{Engine, TestServer};
use crate::deploy::{create_key, Instance};
use crate::on_every_engine;

async fn tenants_are_isolated(engine: Engine) {
    let server = TestServer::start(engine).await;
    let acme = server.key("acme").await;
    let globex = server.key("globex").await;
    let job = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "ACME-1"});
    let created = server.put("/api-jobs/sync", &acme, &job).await.expect(201);
    let id = created.data()["id"].as_str().unwrap().to_owned();

    assert!(server.all("jobs", &globex).await.is_empty());
    server
        .get(&format!("/api-jobs/{id}"), &globex)
        .await
        .expect(404);

    let same_key =
        json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "GLOBEX-1"});
    let theirs = server
        .put("/api-jobs/sync", &globex, &same_key)
        .await
        .expect(201);
    assert_ne!(theirs.data()["id"], created.data()["id"]);
    let part = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "SO-1", "part_number": "p"});
    server
        .put("/api-parts/sync", &globex, &part)
        .await
        .expect(201);

    let ours = server
        .get(&format!("/api-jobs/{id}"), &acme)
        .await
        .expect(200);
    assert_eq!(ours.data()["job_number"], "ACME-1");
    assert_eq!(
        ours.data()["parts"],
        json!([]),
        "globex's part went to globex's job"
    );
}

async fn test_keys_see_only_test_data(engine: Engine) {
    let server = TestServer::start(engine).await;
    let live = server.key_in("acme", Mode::Live).await;
    let test = server.key_in("acme", Mode::Test).await;
    assert!(test.starts_with("ery_test_"));
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"});
    server
        .put("/api-cells/sync", &live, &cell)
        .await
        .expect(201);
    assert!(server.all("cells", &test).await.is_empty());
    server
        .put("/api-cells/sync", &test, &cell)
        .await
        .expect(201);
    assert_eq!(server.all("cells", &live).await.len(), 1);
    assert_eq!(server.all("cells", &test).await.len(), 1);

    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "1"});
    server.put("/api-jobs/sync", &live, &job).await.expect(201);
    let part = json!({"external_id": "P", "external_source": "SAP", "job_external_id": "J", "part_number": "p"});
    let reply = server
        .put("/api-parts/sync", &test, &part)
        .await
        .expect(422);
    assert_eq!(
        reply.error_code(),
        "REFERENCE_NOT_FOUND",
        "test data cannot point at live data"
    );
}

async fn a_key_revoked_by_the_cli_fails_on_the_next_request(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    server.get("/api-jobs", &key).await.expect(200);
    let prefix = &key[..21];
    let output = eryxon(&[
        "api-key",
        "revoke",
        prefix,
        "--database",
        &server.database_url,
    ]);
    assert!(output.status.success(), "{output:?}");
    let reply = server.get("/api-jobs", &key).await.expect(401);
    assert_eq!(reply.error_code(), "UNAUTHORIZED");
    assert!(reply.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
}

async fn key_secrets_never_reach_logs_or_answers(engine: Engine) {
    let server = TestServer::start(engine).await;
    let url = server.database_url.clone();
    let key = create_key(&url);
    let secret = &key[21..];
    let instance = Instance::spawn(&url, 1000).await;
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Cutting"});
    assert_eq!(
        instance.put("/api-cells/sync", &key, &cell).await.status(),
        201
    );
    let mut forged = key.clone();
    forged.replace_range(30..31, if &key[30..31] == "A" { "B" } else { "A" });
    for bad in [forged.as_str(), &key[..40]] {
        let reply = instance.get("/api-cells", bad).await;
        assert_eq!(reply.status(), 401);
        let body = reply.text().await.unwrap();
        assert!(
            !body.contains(&bad[21..]),
            "the error does not echo the key"
        );
    }
    // A refused call's line names the key, which is what an operator looks for in it.
    let reader = eryxon(&[
        "api-key",
        "create",
        "--tenant",
        "acme",
        "--scopes",
        "read",
        "--database",
        &url,
    ]);
    let reader = String::from_utf8(reader.stdout).unwrap().trim().to_owned();
    let refused = instance.put("/api-resources/sync", &reader, &cell).await;
    assert_eq!(refused.status(), 403);
    let listing = eryxon(&["api-key", "list", "--database", &url]);
    assert!(!String::from_utf8_lossy(&listing.stdout).contains(secret));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = instance.logs.lock().unwrap().join("\n");
    assert!(logs.contains("/api-cells"), "requests are logged: {logs}");
    let line = logs
        .lines()
        .find(|l| l.contains("/api-resources/sync") && l.contains("403"))
        .unwrap_or_else(|| panic!("the refusal is logged: {logs}"));
    assert!(line.contains("key_id="), "{line}");
    // And its reason, under the same request id.
    let request_id = line
        .split("request_id=")
        .nth(1)
        .and_then(|rest| rest.split([' ', '}']).next())
        .expect("the line names its request id");
    assert!(
        logs.lines().any(|l| l.contains(request_id)
            && l.contains("request refused")
            && l.contains("FORBIDDEN")),
        "the refusal's reason is logged: {logs}"
    );
    assert!(!logs.contains(secret), "the secret is never logged");
    assert!(!logs.contains(&forged[21..]), "not even a wrong one");
    instance.stop().await;
}

async fn metadata_cannot_overwrite_system_fields(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let other = server.key("globex").await;
    let sneaky = json!({"id": "00000000-0000-0000-0000-000000000000", "tenant_id": "x",
        "external_id": "OTHER", "deleted_at": "2020-01-01", "created_at": "1999-01-01"});
    let job = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "1", "metadata": sneaky});
    let created = server.put("/api-jobs/sync", &key, &job).await.expect(201);
    let id = created.data()["id"].as_str().unwrap();
    let stored = server
        .get(&format!("/api-jobs/{id}"), &key)
        .await
        .expect(200);
    assert_eq!(stored.data()["id"], id);
    assert_eq!(stored.data()["external_id"], "SO-1");
    assert!(stored.data()["deleted_at"].is_null());
    assert_ne!(stored.data()["created_at"], "1999-01-01");
    assert_eq!(
        stored.data()["metadata"],
        sneaky,
        "kept as data, nothing more"
    );
    assert!(server.all("jobs", &other).await.is_empty());
    let forged = json!({"external_id": "SO-1", "external_source": "SAP", "job_number": "1", "tenant_id": "globex"});
    let reply = server
        .put("/api-jobs/sync", &key, &forged)
        .await
        .expect(400);
    assert_eq!(reply.body["error"]["details"][0]["field"], "tenant_id");
}

/// Two `Authorization` headers are refused, whichever comes first: the server does not guess
/// which key the caller meant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_authorization_headers_are_refused() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let other = server.key("globex").await;
    let reply = reqwest::Client::new()
        .get(format!("{}/api-jobs", server.base))
        .header("authorization", format!("Bearer {key}"))
        .header("authorization", format!("Bearer {other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("more than one"), "{message}");
}

/// A caller's `X-Request-Id` is the request's id when it is one (an ERP finds its call by its
/// own id); any other text is replaced by one the server makes, as it went into every log
/// line of the request and could write fields of its own there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_request_id_is_kept_only_when_it_is_an_id() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let answered = |sent: String| {
        let (base, key) = (server.base.clone(), key.clone());
        async move {
            let reply = reqwest::Client::new()
                .get(format!("{base}/api-jobs"))
                .bearer_auth(key)
                .header("x-request-id", sent)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
            reply.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };
    for kept in ["SAP-4711", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"] {
        assert_eq!(answered(kept.to_owned()).await, kept);
    }
    for forged in [
        "abc route=\"/api-webhooks\" key_id=00000000-0000-0000-0000-000000000000".to_owned(),
        "a".repeat(5000),
    ] {
        let made = answered(forged.clone()).await;
        assert_ne!(made, forged);
        assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    }
}

on_every_engine!(
    tenants_are_isolated,
    test_keys_see_only_test_data,
    a_key_revoked_by_the_cli_fails_on_the_next_request,
    key_secrets_never_reach_logs_or_answers,
    metadata_cannot_overwrite_system_fields,
);
