//! The console's webhooks. In the browser: a delivery the receiver refused until its retries
//! ran out is listed first, sent again from the keyboard once the receiver is back, and turns
//! `delivered` (the screenshots `webhooks.png` and `overview-webhooks.png`
//! are taken on the way). Over HTTP: the page shows the signed-in key's tenant and mode only,
//! needs the `webhooks` scope, its forms are refused from another origin, and each form does
//! what its API route does.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::common::{Engine, Options, TestServer};
use crate::console::{arrive, browser, page, screenshot, sign_in, start_driver, text_of};
use crate::webhook_receiver::Receiver;

const PATIENCE: Duration = Duration::from_secs(15);

/// Three attempts 200 ms apart: a refused delivery is `failed` within a second.
async fn quick_server(engine: Engine) -> TestServer {
    let options = Options {
        webhook_retry_schedule: eryxon::domain::webhook::RetrySchedule::parse("200ms,200ms")
            .unwrap(),
        ..Options::default()
    };
    TestServer::start_with(engine, options).await
}

async fn register(server: &TestServer, key: &str, url: &str) -> String {
    let body = json!({"url": url, "events": ["job.*"]});
    let created = server.post("/api-webhooks", key, &body).await.expect(201);
    created.data()["id"].as_str().unwrap().to_owned()
}

async fn sync_job(server: &TestServer, key: &str, number: &str) {
    let job = json!({"external_id": number, "external_source": "SAP", "job_number": number});
    server.put("/api-jobs/sync", key, &job).await.expect(201);
}

/// The endpoint's deliveries with `status`, once there are `n`, as the API lists them.
async fn deliveries_once(
    server: &TestServer,
    key: &str,
    webhook: &str,
    status: &str,
    n: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let path = format!("/api-webhooks/{webhook}/deliveries?status={status}");
        let reply = server.get(&path, key).await.expect(200);
        let found = reply.data()["deliveries"].as_array().unwrap().clone();
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{n} {status} deliveries: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A webhook whose first delivery failed (three times 500) and second was delivered; answers
/// the webhook's id and the failed delivery's.
async fn one_failed_one_delivered(
    server: &TestServer,
    key: &str,
    receiver: &Receiver,
) -> (String, String) {
    receiver.answer_next(3, 500, None);
    let webhook = register(server, key, &receiver.url).await;
    sync_job(server, key, "SO-1").await;
    let failed = deliveries_once(server, key, &webhook, "failed", 1).await;
    sync_job(server, key, "SO-2").await;
    deliveries_once(server, key, &webhook, "delivered", 1).await;
    (webhook, failed[0]["id"].as_str().unwrap().to_owned())
}

/// Reloads the page until `css` reads `wanted`.
async fn until_reads(client: &Client, css: &str, wanted: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let shown = text_of(client, css).await;
        if shown == wanted {
            return;
        }
        assert!(Instant::now() < deadline, "{css} still reads {shown:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.refresh().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engineer_retries_a_failed_delivery_in_the_browser() {
    let (_driver, port) = start_driver();
    let server = quick_server(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let (webhook, failed) = one_failed_one_delivered(&server, &key, &receiver).await;
    let client = browser(port).await;
    let base = &server.base;

    client
        .goto(&format!("{base}/console/sign-in"))
        .await
        .unwrap();
    let form = client.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("key", &key).await.unwrap();
    form.submit().await.unwrap();
    arrive(&client, "/console").await;
    let health = text_of(&client, "#webhook-health tbody tr").await;
    assert!(health.contains(&receiver.url), "{health}");
    assert!(health.contains("delivered HTTP 200"), "{health}");
    assert!(
        health.contains("waiting"),
        "the failed event is undelivered: {health}"
    );
    screenshot(&client, "overview-webhooks").await;

    // The failed delivery comes first, though the delivered one is newer.
    client
        .find(Locator::LinkText("Webhooks"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    arrive(&client, "/console/webhooks").await;
    let rows = format!("#deliveries-{webhook} tbody tr");
    let listed = client.find_all(Locator::Css(&rows)).await.unwrap();
    assert_eq!(listed.len(), 2);
    let first = listed[0].attr("id").await.unwrap();
    assert_eq!(
        first.as_deref(),
        Some(format!("delivery-{failed}").as_str())
    );
    let status = format!("#delivery-{failed} .status");
    assert_eq!(text_of(&client, &status).await, "failed");
    let second = listed[1].text().await.unwrap();
    assert!(second.starts_with("delivered"), "{second}");
    screenshot(&client, "webhooks").await;

    // The receiver is back; Retry, pressed with the keyboard.
    assert_eq!(
        receiver.seen().len(),
        4,
        "three attempts, then the second job"
    );
    let retry = client
        .find(Locator::Css(&format!("#delivery-{failed} button")))
        .await
        .unwrap();
    retry.send_keys("\u{e007}").await.unwrap();
    arrive(&client, "/console/webhooks?done=retry").await;
    assert!(text_of(&client, "[role=status]").await.contains("queued"));
    until_reads(&client, &status, "delivered").await;
    let sent = receiver.seen();
    assert_eq!(sent.len(), 5);
    assert_eq!(
        sent[4].webhook_id(),
        sent[0].webhook_id(),
        "the same event again"
    );

    client.goto(&format!("{base}/console")).await.unwrap();
    let failed_count = text_of(&client, "#webhook-health tbody td.num + td.num").await;
    assert_eq!(failed_count, "0");
    let health = text_of(&client, "#webhook-health tbody tr").await;
    assert!(!health.contains("waiting"), "nothing undelivered: {health}");
    client.close().await.unwrap();
}

/// A client that keeps redirects as answers.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post_fields(
    server: &TestServer,
    session: &str,
    path: &str,
    origin: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    no_redirects()
        .post(format!("{}{path}", server.base))
        .header("cookie", session)
        .header("origin", origin)
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn post_form(
    server: &TestServer,
    session: &str,
    path: &str,
    origin: &str,
) -> reqwest::Response {
    post_fields(server, session, path, origin, &[]).await
}

/// Every read and form of the page on each engine (its health is one aggregate query).
async fn the_webhooks_page_is_scoped_and_guarded(engine: Engine) {
    let server = quick_server(engine).await;
    let live = server.key("acme").await;
    let test = server.key_in("acme", eryxon::domain::Mode::Test).await;
    let other = server.key("globex").await;
    let reader = server.key_with_scopes("acme", "read").await;
    let receiver = Receiver::start().await;
    let (webhook, failed) = one_failed_one_delivered(&server, &live, &receiver).await;
    register(&server, &test, &format!("{}/acme-test", receiver.url)).await;
    register(&server, &other, &format!("{}/globex", receiver.url)).await;

    let session = sign_in(&server, &live).await;
    let shown = page(&server, &session, "/console/webhooks").await;
    assert!(shown.contains(&format!("delivery-{failed}")));
    assert!(
        !shown.contains("acme-test") && !shown.contains("globex"),
        "{shown}"
    );
    let overview = page(&server, &session, "/console").await;
    assert!(overview.contains("webhook-health") && !overview.contains("globex"));
    // Switched off by hand: paused, not disabled (which the server says after failures).
    let off = serde_json::json!({"active": false});
    let path = format!("/api-webhooks/{webhook}");
    server
        .json(reqwest::Method::PATCH, &path, &live, &off)
        .await
        .expect(200);
    let shown = page(&server, &session, "/console/webhooks").await;
    assert!(
        shown.contains(">paused<") && !shown.contains(">disabled<"),
        "{shown}"
    );
    let on = serde_json::json!({"active": true});
    server
        .json(reqwest::Method::PATCH, &path, &live, &on)
        .await
        .expect(200);
    let test_session = sign_in(&server, &test).await;
    let shown = page(&server, &test_session, "/console/webhooks").await;
    assert!(
        shown.contains("/hook/acme-test") && !shown.contains(&webhook),
        "{shown}"
    );

    // Without the `webhooks` scope: neither the page nor its forms, as with the API.
    let reader_session = sign_in(&server, &reader).await;
    let refused = no_redirects()
        .get(format!("{}/console/webhooks", server.base))
        .header("cookie", &reader_session)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("`webhooks` scope"));
    let overview = page(&server, &reader_session, "/console").await;
    assert!(!overview.contains("webhook-health"), "{overview}");
    let retry = format!("/console/webhooks/{webhook}/deliveries/{failed}/retry");
    let own = server.base.as_str();
    assert_eq!(
        post_form(&server, &reader_session, &retry, own)
            .await
            .status(),
        403
    );

    // The retry form from another site, or from an opaque origin, is refused; another
    // tenant's session does not find the delivery; none of them sends it again.
    for origin in ["https://elsewhere.example", "null"] {
        let forged = post_form(&server, &session, &retry, origin).await;
        assert_eq!(forged.status(), 403, "{origin}");
    }
    let other_session = sign_in(&server, &other).await;
    assert_eq!(
        post_form(&server, &other_session, &retry, own)
            .await
            .status(),
        404
    );
    let still = deliveries_once(&server, &live, &webhook, "failed", 1).await;
    assert_eq!(still[0]["attempts"], 3, "not sent again");

    let queued = post_form(&server, &session, &retry, own).await;
    assert_eq!(queued.status(), 303);
    assert_eq!(
        queued.headers()["location"],
        format!("/console/webhooks?done=retry#endpoint-{webhook}").as_str()
    );
    deliveries_once(&server, &live, &webhook, "delivered", 2).await;

    // The other forms, as their API routes: a test event, a replay, a new secret shown once.
    let base = format!("/console/webhooks/{webhook}");
    let test = post_form(&server, &session, &format!("{base}/test"), own).await;
    assert_eq!(test.status(), 303);
    deliveries_once(&server, &live, &webhook, "delivered", 3).await;
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let since = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        hour_ago.year(),
        u8::from(hour_ago.month()),
        hour_ago.day(),
        hour_ago.hour(),
        hour_ago.minute()
    );
    let replay = format!("{base}/replay");
    let fields = [
        ("since", since.as_str()),
        ("until", ""),
        ("types", "job.created"),
    ];
    let replayed = post_fields(&server, &session, &replay, own, &fields).await;
    assert_eq!(replayed.status(), 303);
    let to = replayed.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.contains("done=replay&queued=2"), "{to}");
    deliveries_once(&server, &live, &webhook, "delivered", 5).await;
    let bad = [("since", "yesterday")];
    let refused = post_fields(&server, &session, &replay, own, &bad).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("RFC 3339"));
    let rotated = post_form(&server, &session, &format!("{base}/rotate-secret"), own).await;
    assert_eq!(rotated.status(), 200);
    let answer = rotated.text().await.unwrap();
    let start = answer.find("whsec_").expect("the new secret");
    let secret: String = answer[start..].chars().take_while(|c| *c != '<').collect();
    let shown = page(&server, &session, "/console/webhooks").await;
    assert!(
        !shown.contains(&secret) && !shown.contains("whsec_"),
        "shown once"
    );
    let forged = post_form(&server, &session, &format!("{base}/rotate-secret"), "null").await;
    assert_eq!(forged.status(), 403);
}

/// A page's query string is decoded as the API's: a bad value is the console's error page,
/// naming the parameter (it was axum's plain-text "Failed to deserialize query string").
pub(crate) async fn a_bad_query_shows_the_error_page(server: &TestServer, session: &str) {
    for path in [
        "/console/events?limit=abc",
        "/console/syncs?limit=abc",
        "/console/jobs?limit=x",
    ] {
        let reply = crate::console::fetch(server, session, path).await;
        assert_eq!(reply.status(), 400, "{path}");
        let kind = reply.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let body = reply.text().await.unwrap();
        assert!(
            body.contains("Could not show this page") && body.contains("limit"),
            "{body}"
        );
    }
    // A parameter the page does not take is named, not ignored: `search=` listed every job
    // as if the operator had searched for nothing.
    for (path, name) in [
        ("/console/jobs?search=SO-1", "search"),
        ("/console/syncs?status=failed", "status"),
        ("/console/events?type=job.created", "type"),
    ] {
        let reply = crate::console::fetch(server, session, path).await;
        assert_eq!(reply.status(), 400, "{path}");
        let body = reply.text().await.unwrap();
        assert!(body.contains(name), "{path}: {body}");
    }
}

/// A paused endpoint's events are not deliveries until it is switched on; the page says how
/// many of its subscription wait and since when, not "0 pending" as if nothing did.
async fn a_paused_endpoint_shows_what_it_is_held_back(engine: Engine) {
    let server = quick_server(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    let webhook = register(&server, &key, &receiver.url).await;
    let path = format!("/api-webhooks/{webhook}");
    let off = json!({"active": false});
    let on = json!({"active": true});
    server
        .json(reqwest::Method::PATCH, &path, &key, &off)
        .await
        .expect(200);
    for number in ["SO-1", "SO-2", "SO-3"] {
        sync_job(&server, &key, number).await;
    }
    // Not of its subscription (`job.*`): not counted.
    let cell = json!({"external_id": "C1", "external_source": "SAP", "name": "Saw"});
    server.put("/api-cells/sync", &key, &cell).await.expect(201);

    let session = sign_in(&server, &key).await;
    let shown = page(&server, &session, "/console/webhooks").await;
    assert!(
        shown.contains("3 events held back") && shown.contains("sent when switched on"),
        "{shown}"
    );
    let overview = page(&server, &session, "/console").await;
    assert!(overview.contains("3 events held back"), "{overview}");

    server
        .json(reqwest::Method::PATCH, &path, &key, &on)
        .await
        .expect(200);
    receiver.wait_for(3, PATIENCE).await;
    let shown = page(&server, &session, "/console/webhooks").await;
    assert!(!shown.contains("held back"), "{shown}");
}

crate::on_every_engine!(
    the_webhooks_page_is_scoped_and_guarded,
    a_paused_endpoint_shows_what_it_is_held_back
);
