//! Tenants and modes never see each other's data; revoked keys stop at once.

use eryxon::domain::Mode;
use serde_json::json;

use crate::cli::eryxon;
use crate::common::{Engine, TestServer};
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

on_every_engine!(
    tenants_are_isolated,
    test_keys_see_only_test_data,
    a_key_revoked_by_the_cli_fails_on_the_next_request,
);
