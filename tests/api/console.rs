//! The console in a real browser: headless Chromium, driven over WebDriver by `chromedriver`
//! (Debian's `chromium` and `chromium-driver`; `scripts/test.sh` installs them). It signs in,
//! reads a rejected record's error, opens a job's tree, watches an event arrive, and signs out;
//! on the way it saves a screenshot of each page (`screenshot`; the README shows them).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::common::{Engine, TestServer};
use crate::floor::routing;

/// `chromedriver`, stopped when dropped.
pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const MISSING: &str = "the console's browser test needs Chromium and its WebDriver: \
    `apt-get install -y chromium chromium-driver` (scripts/test.sh installs them when missing)";

pub(crate) fn start_driver() -> (Driver, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run chromedriver ({e}): {MISSING}"));
    (Driver(child), port)
}

pub(crate) async fn browser(port: u16) -> Client {
    let mut chrome = json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
        "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US"]});
    if std::path::Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = json!("/usr/bin/chromium");
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".to_owned(), chrome);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return client,
            Err(e) if Instant::now() > deadline => {
                panic!("chromedriver did not start a browser ({e}): {MISSING}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Saves the page as `name.png`: under the build's own directory, or over the README's
/// `docs/screenshots/` with `ERYXON_WRITE_SCREENSHOTS=1`, so that a test run leaves no change
/// of its own in a contributor's checkout.
pub(crate) async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    let dir = if std::env::var_os("ERYXON_WRITE_SCREENSHOTS").is_some_and(|v| v == "1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

pub(crate) async fn text_of(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Waits until the browser shows `address` (path and query), after a click that navigates.
pub(crate) async fn arrive(client: &Client, address: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = client.current_url().await.unwrap();
        let shown = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        if shown == address {
            return;
        }
        assert!(Instant::now() < deadline, "still at {shown}, not {address}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn minutes_ago(minutes: i64) -> String {
    let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A tenant with a rejected cell, a routed job with a paused operation and 1,000 more jobs.
async fn seed(server: &TestServer, key: &str) -> String {
    let cells = json!({"cells": [
        {"external_id": "WC-9", "external_source": "SAP", "name": "Paint", "color": "red"}]});
    server
        .post("/api-cells/bulk-sync", key, &cells)
        .await
        .expect(200);
    let many: Vec<Value> = (0..1000)
        .map(|i| {
            json!({"external_id": format!("B-{i:04}"), "external_source": "SAP",
            "job_number": format!("B-{i:04}"), "customer": "Bulk Ltd"})
        })
        .collect();
    server
        .post("/api-jobs/bulk-sync", key, &json!({ "jobs": many }))
        .await
        .expect(200);
    let (o1, _) = routing(server, key).await;
    let act = |action: &str| format!("/api-operation-lifecycle/{action}?id={o1}");
    let start = json!({"operator": "ana", "at": minutes_ago(90)});
    server.post(&act("start"), key, &start).await.expect(200);
    let pause = json!({"at": minutes_ago(60), "note": "lunch"});
    server.post(&act("pause"), key, &pause).await.expect(200);
    o1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_follows_the_integration_in_the_browser() {
    let (_driver, port) = start_driver();
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let o1 = seed(&server, &key).await;
    let client = browser(port).await;
    let base = &server.base;

    // Signing in: the console sends the browser to the form; the key goes in a POST body.
    client.goto(&format!("{base}/console")).await.unwrap();
    assert!(client.current_url().await.unwrap().path() == "/console/sign-in");
    screenshot(&client, "sign-in").await;
    let form = client.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("key", "ery_live_wrong").await.unwrap();
    form.submit().await.unwrap();
    assert!(text_of(&client, "[role=alert]").await.contains("malformed"));
    let field = client.find(Locator::Id("key")).await.unwrap();
    field.send_keys(&key).await.unwrap();
    client
        .find(Locator::Css("form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&client, "/console").await;
    let url = client.current_url().await.unwrap();
    assert!(!url.as_str().contains(&key), "the key is in no address");
    assert_eq!(text_of(&client, "#rejected-24h").await, "1");
    assert_eq!(text_of(&client, ".mode").await, "Live data");
    screenshot(&client, "overview").await;

    // A sync with a rejected record, and its error.
    client
        .find(Locator::Css("#rejecting-24h a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&client, "/console/syncs?outcome=rejected").await;
    let rows = client
        .find_all(Locator::Css("#syncs tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the call with a rejection");
    screenshot(&client, "sync-history").await;
    rows[0]
        .find(Locator::Css("a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let rejected = text_of(&client, "#rejected tbody tr").await;
    assert!(rejected.contains("WC-9"), "{rejected}");
    assert!(rejected.contains("color"), "names the field: {rejected}");
    screenshot(&client, "sync-call").await;

    // A job's tree, found by searching.
    client.goto(&format!("{base}/console/jobs")).await.unwrap();
    let search = client
        .form(Locator::Css("form[role=search]"))
        .await
        .unwrap();
    search.set_by_name("q", "SO-1").await.unwrap();
    client
        .find(Locator::Css("form[role=search] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&client, "/console/jobs?q=SO-1").await;
    let found = client
        .find_all(Locator::Css("#jobs tbody tr"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    screenshot(&client, "records").await;
    client
        .find(Locator::LinkText("SO-1"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let tree = text_of(&client, "#tree").await;
    for expected in ["PN-1", "Cut", "Deburr", "on hold", "ana", "lunch", "30"] {
        assert!(tree.contains(expected), "the tree shows {expected}: {tree}");
    }
    screenshot(&client, "job").await;

    // 1,000 rows in one table, rendered within a second: from the request to the page's load
    // event, as the browser measures it, the best of five (the suite runs tests in parallel,
    // some of them heavy writes, on two cores).
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        client
            .goto(&format!("{base}/console/jobs?limit=1000"))
            .await
            .unwrap();
        let rows = client
            .find_all(Locator::Css("#jobs tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1000);
        let loaded = client
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; \
                 return n.loadEventEnd - n.startTime;",
                vec![],
            )
            .await
            .unwrap()
            .as_f64()
            .unwrap();
        best = best.min(loaded);
    }
    eprintln!("a table of 1000 job rows: loaded in {best:.0} ms");
    assert!(best < 1000.0, "1000 rows took {best} ms");

    // An event arrives while the events page is open.
    client
        .goto(&format!("{base}/console/events"))
        .await
        .unwrap();
    assert!(text_of(&client, "#events tbody tr")
        .await
        .contains("operation.paused"));
    server
        .post(
            &format!("/api-operation-lifecycle/resume?id={o1}"),
            &key,
            &json!({"operator": "ben"}),
        )
        .await
        .expect(200);
    let arrived = text_of(&client, "#events tbody tr.new").await;
    assert!(arrived.contains("operation.resumed"), "{arrived}");
    screenshot(&client, "events").await;

    // Nothing kept in the browser's storage; signing out ends the session.
    let stored = client
        .execute("return localStorage.length + sessionStorage.length", vec![])
        .await
        .unwrap();
    assert_eq!(stored, json!(0));
    client
        .find(Locator::Id("sign-out"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&client, "/console/sign-in").await;
    client.goto(&format!("{base}/console/syncs")).await.unwrap();
    assert_eq!(
        client.current_url().await.unwrap().path(),
        "/console/sign-in",
        "signed out"
    );

    // `/docs` renders with no internet: its renderer comes from this server too.
    client.goto(&format!("{base}/docs")).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(".api-content"))
        .await
        .expect("Redoc renders /docs from the server's own copy");
    client.close().await.unwrap();
}

/// The session cookie's attributes, the forms' origin check, and a test key's view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_is_a_guarded_cookie_and_a_test_key_sees_test_data() {
    let server = TestServer::start(Engine::Sqlite).await;
    let live = server.key("acme").await;
    let test = server.key_in("acme", eryxon::domain::Mode::Test).await;
    let job = json!({"external_id": "J", "external_source": "SAP", "job_number": "LIVE-1"});
    server.put("/api-jobs/sync", &live, &job).await.expect(201);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |path: &str| format!("{}{path}", server.base);

    let anonymous = client.get(url("/console/jobs")).send().await.unwrap();
    assert_eq!(anonymous.status(), 303);
    assert_eq!(anonymous.headers()["location"], "/console/sign-in");

    let forged = client
        .post(url("/console/sign-in"))
        .header("origin", "https://elsewhere.example")
        .form(&[("key", test.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403, "a sign-in from another site");

    let signed = client
        .post(url("/console/sign-in"))
        .header("origin", &server.base)
        .form(&[("key", test.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    // Kept by the browser while it runs: the server ends an idle session, not the cookie.
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    assert!(!cookie.contains(&test), "the cookie is not the key");
    let session = cookie.split(';').next().unwrap().to_owned();

    let jobs = client
        .get(url("/console/jobs"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.status(), 200);
    let policy = jobs.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let page = jobs.text().await.unwrap();
    assert!(page.contains("Test data"));
    assert!(!page.contains("LIVE-1"), "a test key sees no live records");
    assert!(!page.contains("https://"), "nothing loaded from elsewhere");

    let forged_out = client
        .post(url("/console/sign-out"))
        .header("cookie", &session)
        .header("origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged_out.status(), 403);
    let out = client
        .post(url("/console/sign-out"))
        .header("cookie", &session)
        .header("origin", &server.base)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let after = client
        .get(url("/console/jobs"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "the session is gone");

    // Revoking the key ends its sessions.
    let again = client
        .post(url("/console/sign-in"))
        .form(&[("key", live.as_str())])
        .send()
        .await
        .unwrap();
    let session = again.headers()["set-cookie"].to_str().unwrap();
    let session = session.split(';').next().unwrap().to_owned();
    let prefix = &live[..21];
    server.store.revoke_api_key(prefix).await.unwrap();
    let revoked = client
        .get(url("/console"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 303, "a revoked key's session ends");
}

/// Signs in over plain HTTP; answers the session cookie to send back.
pub(crate) async fn sign_in(server: &TestServer, key: &str) -> String {
    let reply = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/console/sign-in", server.base))
        .form(&[("key", key)])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 303);
    let cookie = reply.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// A console page's answer, with the session's cookie.
pub(crate) async fn fetch(server: &TestServer, session: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .header("cookie", session)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn page(server: &TestServer, session: &str, path: &str) -> String {
    let reply = fetch(server, session, path).await;
    assert_eq!(reply.status(), 200, "{path}");
    reply.text().await.unwrap()
}
