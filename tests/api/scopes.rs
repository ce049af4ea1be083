//! API key scopes: `sync`, `floor`, `read` and `webhooks`. A key calls only what its scopes
//! cover; anything else is 403 `FORBIDDEN`, naming the scope the call needs.

use reqwest::Method;
use serde_json::json;

use crate::cli::eryxon;
use crate::common::{Engine, Reply, TestServer};
use crate::floor::routing;
use crate::on_every_engine;

/// Checks a refusal for want of `scope`, whose message names the scope and the call.
fn lacks(reply: Reply, scope: &str, call: &str) {
    let reply = reply.expect(403);
    assert_eq!(reply.error_code(), "FORBIDDEN");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("lacks the `{scope}` scope")),
        "{message}"
    );
    assert!(message.contains(call), "{message}");
    assert!(message.contains(&format!("--scopes {scope}")), "{message}");
    assert!(
        reply.header("x-ratelimit-limit").is_some(),
        "a refused call still counts against the key's rate"
    );
}

async fn delete(server: &TestServer, path: &str, key: &str) -> Reply {
    server.delete(path, key).await
}

async fn a_floor_key_works_the_floor_and_reads_but_cannot_sync(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (o1, _) = routing(&server, &server.key("acme").await).await;
    let floor = server.key_with_scopes("acme", "floor,read").await;

    let started = server
        .post(
            &format!("/api-operation-lifecycle/start?id={o1}"),
            &floor,
            &json!({"operator": "ana"}),
        )
        .await
        .expect(200);
    assert_eq!(started.data()["new_status"], "in_progress");
    server
        .post(
            "/api-operations/by-external/SAP/O2/start",
            &floor,
            &json!({}),
        )
        .await
        .expect(200);
    // The job's lifecycle too: whatever its status allows, the key is let through.
    let job_id = server.get("/api-jobs/by-external/SAP/J", &floor).await;
    let job_id = job_id.expect(200).data()["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/api-job-lifecycle/start?id={job_id}"),
        "/api-jobs/by-external/SAP/J/stop".to_owned(),
    ] {
        let reply = server.post(&path, &floor, &json!({})).await;
        assert_ne!(reply.status, 403, "{path}: {:#}", reply.body);
    }
    assert_eq!(server.all("operations", &floor).await.len(), 2);
    server.get("/api-events", &floor).await.expect(200);

    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-2"});
    lacks(
        server.put("/api-jobs/sync", &floor, &job).await,
        "sync",
        "PUT /api-jobs/sync",
    );
    lacks(
        server
            .put("/functions/v1/api-jobs/sync", &floor, &job)
            .await,
        "sync",
        "PUT /api-jobs/sync",
    );
    lacks(
        server
            .post("/api-jobs/bulk-sync", &floor, &json!([job]))
            .await,
        "sync",
        "POST /api-jobs/bulk-sync",
    );
    lacks(
        delete(&server, &format!("/api-operations/{o1}"), &floor).await,
        "sync",
        "DELETE /api-operations/{id}",
    );
    let job = server
        .get("/api-jobs/by-external/SAP/J", &floor)
        .await
        .expect(200);
    assert_eq!(job.data()["job_number"], "SO-1", "nothing was written");
}

async fn a_sync_key_can_neither_read_nor_work_the_floor(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (o1, _) = routing(&server, &server.key("acme").await).await;
    let sync = server.key_with_scopes("acme", "sync").await;
    let cell = json!({"external_id": "WC-2", "external_source": "SAP", "name": "Mill"});
    server
        .put("/api-cells/sync", &sync, &cell)
        .await
        .expect(201);
    lacks(
        server.get("/api-operations", &sync).await,
        "read",
        "GET /api-operations",
    );
    lacks(
        server.get("/functions/v1/api-events", &sync).await,
        "read",
        "GET /api-events",
    );
    lacks(
        server
            .post(
                &format!("/api-operation-lifecycle/start?id={o1}"),
                &sync,
                &json!({}),
            )
            .await,
        "floor",
        "POST /api-operation-lifecycle/{action}",
    );
    lacks(
        server
            .post(
                "/api-operations/by-external/SAP/O1/start",
                &sync,
                &json!({}),
            )
            .await,
        "floor",
        "POST /api-operations/by-external/{external_source}/{external_id}/{action}",
    );
    delete(&server, "/api-operations/by-external/SAP/O2", &sync)
        .await
        .expect(200);
}

async fn a_read_key_reads_everything_and_writes_nothing(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (o1, _) = routing(&server, &server.key("acme").await).await;
    let read = server.key_with_scopes("acme", "read").await;
    let feed = server.get("/api-events", &read).await.expect(200);
    assert!(feed.data()["events"].is_array(), "{:#}", feed.body);
    server.get("/api-sync/imports", &read).await.expect(200);
    server
        .get(&format!("/api-time-entries?operation_id={o1}"), &read)
        .await
        .expect(200);
    server
        .get(&format!("/api-operations/{o1}"), &read)
        .await
        .expect(200);
    lacks(
        server
            .post(
                &format!("/api-operation-lifecycle/start?id={o1}"),
                &read,
                &json!({}),
            )
            .await,
        "floor",
        "POST /api-operation-lifecycle/{action}",
    );
    lacks(
        delete(&server, "/api-cells/by-external/SAP/WC-1", &read).await,
        "sync",
        "DELETE /api-cells/by-external/{external_source}/{external_id}",
    );
}

async fn a_key_made_without_scopes_may_do_everything(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let (o1, o2) = routing(&server, &key).await;
    server
        .post(
            &format!("/api-operation-lifecycle/start?id={o1}"),
            &key,
            &json!({}),
        )
        .await
        .expect(200);
    server.get("/api-events", &key).await.expect(200);
    delete(&server, &format!("/api-operations/{o2}"), &key)
        .await
        .expect(200);
}

/// A method the path does not serve is the router's 405 whatever the key holds: no route
/// matched, so neither the key nor its scopes are looked at.
async fn a_wrong_method_is_405_for_any_key(engine: Engine) {
    let server = TestServer::start(engine).await;
    for key in [
        server.key("acme").await,
        server.key_with_scopes("acme", "read").await,
    ] {
        let wrong = server
            .send(Method::POST, "/api-jobs/sync", Some(&key), None, None)
            .await
            .expect(405);
        assert_eq!(wrong.error_code(), "METHOD_NOT_ALLOWED");
    }
}

async fn authentication_comes_before_scope(engine: Engine) {
    let server = TestServer::start(engine).await;
    let read = server.key_with_scopes("acme", "read").await;
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1"});
    let unknown = format!("ery_live_{}", "A".repeat(40));
    let refused = server
        .put("/api-jobs/sync", &unknown, &job)
        .await
        .expect(401);
    assert_eq!(refused.error_code(), "UNAUTHORIZED");
    let anonymous = server
        .send(Method::PUT, "/api-jobs/sync", None, None, None)
        .await
        .expect(401);
    assert_eq!(anonymous.error_code(), "UNAUTHORIZED");
    let listed = server.store.list_api_keys(None).await.unwrap();
    server
        .store
        .revoke_api_key(&listed[0].id.to_string())
        .await
        .unwrap();
    let revoked = server.put("/api-jobs/sync", &read, &job).await.expect(401);
    assert_eq!(revoked.error_code(), "UNAUTHORIZED");
}

/// `api-key list`'s LAST USED counts a call the key's scopes refused: the key was used, and an
/// operator deciding whether a key can be revoked reads that column.
async fn a_refused_call_still_marks_the_key_used(engine: Engine) {
    let server = TestServer::start(engine).await;
    let read = server.key_with_scopes("acme", "read").await;
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "SO-1"});
    lacks(
        server.put("/api-jobs/sync", &read, &job).await,
        "sync",
        "PUT /api-jobs/sync",
    );
    // The use is written off the request's path; give it a moment.
    let mut last_used = None;
    for _ in 0..50 {
        let keys = server.store.list_api_keys(None).await.unwrap();
        last_used = keys[0].last_used_at.clone();
        if last_used.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        last_used.is_some(),
        "a key refused with 403 still shows its last use"
    );
}

async fn the_cli_makes_and_lists_scoped_keys(engine: Engine) {
    let server = TestServer::start(engine).await;
    let db = server.database_url.clone();
    let create = |extra: &[&str]| {
        let mut args = vec!["api-key", "create", "--tenant", "acme", "--database", &db];
        args.extend_from_slice(extra);
        eryxon(&args)
    };
    let scoped = create(&["--name", "floor tablet", "--scopes", "floor,read"]);
    assert!(scoped.status.success(), "{scoped:?}");
    let key = String::from_utf8(scoped.stdout).unwrap().trim().to_owned();
    let full = create(&["--name", "ERP"]);
    assert!(full.status.success(), "{full:?}");

    let listing = eryxon(&["api-key", "list", "--database", &db]);
    assert!(listing.status.success(), "{listing:?}");
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(
        listing.lines().next().unwrap().contains("SCOPES"),
        "{listing}"
    );
    let row = |name: &str| listing.lines().find(|l| l.contains(name)).unwrap();
    assert!(row("floor tablet").contains(" floor,read "), "{listing}");
    assert!(
        row("ERP").contains(" sync,floor,read,webhooks "),
        "{listing}"
    );
    server.get("/api-cells", &key).await.expect(200);
    let cell = json!({"external_id": "WC-1", "external_source": "SAP", "name": "Saw"});
    lacks(
        server.put("/api-cells/sync", &key, &cell).await,
        "sync",
        "PUT /api-cells/sync",
    );

    for bad in ["bogus", "floor,Read", ""] {
        let refused = create(&["--scopes", bad]);
        assert!(!refused.status.success(), "--scopes {bad:?} was taken");
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains("sync,floor,read,webhooks"), "{said}");
    }
    let said = String::from_utf8_lossy(&create(&["--scopes", "floor,bogus"]).stderr).into_owned();
    assert!(said.contains("unknown scope \"bogus\""), "{said}");
    assert_eq!(
        server.store.list_api_keys(None).await.unwrap().len(),
        2,
        "a refused create makes no key"
    );
}

on_every_engine!(
    a_floor_key_works_the_floor_and_reads_but_cannot_sync,
    a_sync_key_can_neither_read_nor_work_the_floor,
    a_read_key_reads_everything_and_writes_nothing,
    a_key_made_without_scopes_may_do_everything,
    a_wrong_method_is_405_for_any_key,
    authentication_comes_before_scope,
    a_refused_call_still_marks_the_key_used,
    the_cli_makes_and_lists_scoped_keys,
);
