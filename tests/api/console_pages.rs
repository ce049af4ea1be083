//! The console's pages over HTTP on each engine: the overview's counts, the sync history's and
//! the events' filters, a job's tree, the records search, and the console's own error pages.

use serde_json::json;

use crate::common::{Engine, TestServer};
use crate::console::{fetch, page, sign_in};
use crate::floor::routing;

/// Every page's reads (the history's outcome and time filters, the feed newest first) on each
/// engine.
async fn the_pages_read_each_engine(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let cells = json!({"cells": [
        {"external_id": "WC-9", "external_source": "SAP", "name": "Paint", "color": "red"}]});
    server
        .post("/api-cells/bulk-sync", &key, &cells)
        .await
        .expect(200);
    routing(&server, &key).await;
    let session = sign_in(&server, &key).await;

    let overview = page(&server, &session, "/console").await;
    assert!(
        overview.contains(r#"class="bad" id="rejected-24h">1<"#),
        "{overview}"
    );
    assert!(
        overview.contains(r#"<a href="/console/syncs">3</a>"#),
        "{overview}"
    );
    // With a slash, as a hand types it: the overview (it was a JSON 404).
    let slashed = page(&server, &session, "/console/").await;
    assert!(slashed.contains(r#"id="rejected-24h""#), "{slashed}");
    let past = page(&server, &session, "/console/syncs?offset=99999").await;
    assert!(
        past.contains("No rows from row 100000 on; there are 3"),
        "{past}"
    );
    assert!(
        past.contains("offset=0\" rel=\"prev\""),
        "back to the last page: {past}"
    );
    let rejected = page(&server, &session, "/console/syncs?outcome=rejected").await;
    assert!(rejected.contains("POST /api-cells/bulk-sync"));
    assert!(!rejected.contains("PUT /api-jobs/sync"));
    let clean = page(
        &server,
        &session,
        "/console/syncs?outcome=clean&entity=jobs",
    )
    .await;
    assert!(clean.contains("PUT /api-jobs/sync"));
    assert!(!clean.contains("/api-cells/"));
    let events = page(&server, &session, "/console/events?types=job.*").await;
    assert!(events.contains("job.created"));
    assert!(!events.contains("cell.created"));
    let first = events.find("job.created").unwrap();
    let oldest = page(&server, &session, "/console/events").await;
    assert!(
        oldest.find("operation.created").unwrap() < oldest.find("cell.created").unwrap(),
        "newest first"
    );
    let rows = page(&server, &session, "/console/events/rows?after=c0&types=").await;
    assert!(rows.contains("cell.created") && first > 0);
    let jobs = server.all("jobs", &key).await;
    let job = jobs[0]["id"].as_str().unwrap();
    let tree = page(&server, &session, &format!("/console/jobs/{job}")).await;
    assert!(tree.contains("Deburr"));
    // The search finds a job by the ERP's key (`J`, job number SO-1), as its box says.
    let by_key = page(&server, &session, "/console/jobs?q=J").await;
    assert!(
        by_key.contains(">SO-1<") && !by_key.contains("No jobs match"),
        "{by_key}"
    );
    let by_number = page(&server, &session, "/console/jobs?q=so-1").await;
    assert!(by_number.contains(">SO-1<"), "{by_number}");
    crate::console_webhooks::a_bad_query_shows_the_error_page(&server, &session).await;
    // A wrong console address is a console page too, not the API's JSON.
    let wrong = fetch(&server, &session, "/console/history").await;
    assert_eq!(wrong.status(), 404);
    let kind = wrong.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
}

crate::on_every_engine!(the_pages_read_each_engine);
