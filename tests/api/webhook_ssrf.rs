//! Where webhooks may go (issue 20 §5): literal non-public addresses and plain http to public
//! ones are refused when an endpoint is saved; a name is not resolved then, but every attempt
//! resolves it and sends nothing to a refused address, unless the operator opened its network
//! with `ERYXON_WEBHOOK_ALLOWED_NETWORKS`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{Engine, Options, TestServer};
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;

const VAR: &str = "ERYXON_WEBHOOK_ALLOWED_NETWORKS";

async fn server_opening(engine: Engine, networks: &str) -> TestServer {
    let options = Options {
        webhook_retry_schedule: eryxon::domain::webhook::RetrySchedule::parse("1s,1s").unwrap(),
        webhook_allowed_networks: eryxon::domain::network::AllowedNetworks::parse(networks)
            .unwrap(),
        ..Options::default()
    };
    TestServer::start_with(engine, options).await
}

/// Saving `url` is refused with a message naming `rule` and the variable that opens networks.
async fn refused(server: &TestServer, key: &str, url: &str, rule: &str) {
    let reply = server
        .post(
            "/api-webhooks",
            key,
            &json!({"url": url, "events": ["job.*"]}),
        )
        .await
        .expect(400);
    assert_eq!(reply.error_code(), "VALIDATION_ERROR");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(rule) && message.contains(VAR),
        "{url}: {message}"
    );
}

async fn ssrf_refuses_literal_addresses_and_plain_http_when_saved(engine: Engine) {
    // The test receivers' loopback address is open, as in every webhook test.
    let server = server_opening(engine, "127.0.0.1/32").await;
    let key = server.key("acme").await;
    refused(
        &server,
        &key,
        "http://169.254.169.254/latest/meta-data/",
        "link-local address 169.254.169.254",
    )
    .await;
    refused(
        &server,
        &key,
        "https://10.1.2.3/hook",
        "private address 10.1.2.3",
    )
    .await;
    refused(
        &server,
        &key,
        "https://[::1]:8443/hook",
        "loopback address ::1",
    )
    .await;
    refused(
        &server,
        &key,
        "https://[::ffff:a9fe:a9fe]/",
        "link-local address 169.254.169.254",
    )
    .await;
    refused(
        &server,
        &key,
        "https://100.64.0.1/",
        "shared (CGNAT) address 100.64.0.1",
    )
    .await;
    refused(
        &server,
        &key,
        "https://224.0.0.1/",
        "multicast address 224.0.0.1",
    )
    .await;
    refused(
        &server,
        &key,
        "http://127.0.0.2:9/",
        "loopback address 127.0.0.2",
    )
    .await;
    refused(&server, &key, "http://93.184.215.14/hook", "must be https").await;
    // An opened network takes plain http; a public literal takes https.
    let made = server
        .post(
            "/api-webhooks",
            &key,
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["job.*"]}),
        )
        .await
        .expect(201);
    let id = made.data()["id"].as_str().unwrap().to_owned();
    server
        .post(
            "/api-webhooks",
            &key,
            &json!({"url": "https://93.184.215.14/hook", "events": ["job.*"]}),
        )
        .await
        .expect(201);
    // PATCH judges a new URL the same way.
    let patched = server
        .json(
            reqwest::Method::PATCH,
            &format!("/api-webhooks/{id}"),
            &key,
            &json!({"url": "https://192.168.0.10/hook"}),
        )
        .await
        .expect(400);
    assert_eq!(patched.error_code(), "VALIDATION_ERROR");
    assert!(patched.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("private address 192.168.0.10"));

    // With no network open, plain http to a name is refused; https to a name is saved without
    // resolving it (erp.invalid resolves nowhere).
    let closed = server_opening(engine, "").await;
    let key = closed.key("acme").await;
    refused(&closed, &key, "http://erp.example/hook", "must be https").await;
    refused(
        &closed,
        &key,
        "http://127.0.0.1:9/hook",
        "loopback address 127.0.0.1",
    )
    .await;
    closed
        .post(
            "/api-webhooks",
            &key,
            &json!({"url": "https://erp.invalid/hook", "events": ["job.*"]}),
        )
        .await
        .expect(201);
}

/// Sends a `webhook.test` to a new endpoint at `url`; answers the endpoint's id and secret.
async fn send_test(server: &TestServer, key: &str, url: &str) -> (String, String) {
    let made = server
        .post(
            "/api-webhooks",
            key,
            &json!({"url": url, "events": ["job.*"]}),
        )
        .await
        .expect(201);
    let id = made.data()["id"].as_str().unwrap().to_owned();
    let secret = made.data()["secret"].as_str().unwrap().to_owned();
    server
        .post(&format!("/api-webhooks/{id}/test"), key, &json!({}))
        .await
        .expect(202);
    (id, secret)
}

/// The endpoint's only delivery once it has made `attempts` attempts.
async fn after_attempts(server: &TestServer, key: &str, id: &str, attempts: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listed = server
            .get(&format!("/api-webhooks/{id}/deliveries"), key)
            .await
            .expect(200);
        let delivery = listed.data()["deliveries"][0].clone();
        if delivery["attempts"].as_u64() >= Some(attempts) {
            return delivery;
        }
        assert!(
            Instant::now() < deadline,
            "no attempt {attempts}: {delivery:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ssrf_refuses_a_name_resolving_to_a_private_address(engine: Engine) {
    let receiver = Receiver::start().await;
    let port = receiver.url.split(':').nth(2).unwrap().to_owned();
    // `localhost` resolves to loopback (127.0.0.1 here, ::1 too on some machines). Saving does
    // not resolve it, so it is saved; a network is open, so plain http to a name is too.
    let url = format!("http://localhost:{port}");
    let server = server_opening(engine, "10.0.0.0/8").await;
    let key = server.key("acme").await;
    let (id, secret) = send_test(&server, &key, &url).await;

    // Refused at each attempt, retried on the schedule like any failure, and never sent.
    let delivery = after_attempts(&server, &key, &id, 2).await;
    assert_eq!(delivery["status"], "pending", "{delivery:#}");
    for attempt in delivery["attempt_log"].as_array().unwrap() {
        let error = attempt["error"].as_str().unwrap();
        assert!(
            error.starts_with("refused: localhost resolves to loopback address")
                && error.contains(VAR),
            "{error}"
        );
        assert!(attempt["http_status"].is_null());
    }
    assert!(receiver.seen().is_empty(), "the receiver was reached");
    // Secrets are never listed, not even beside a failed attempt.
    let listed = server.get("/api-webhooks", &key).await.expect(200);
    let deliveries = server
        .get(&format!("/api-webhook-logs?webhook_id={id}"), &key)
        .await
        .expect(200);
    for shown in [listed.body.to_string(), deliveries.body.to_string()] {
        assert!(
            !shown.contains(&secret) && !shown.contains("whsec_"),
            "{shown}"
        );
    }

    // Opening loopback lets the same name through, to the address the resolver checked.
    let opened = server_opening(engine, "127.0.0.1/32").await;
    let key = opened.key("acme").await;
    let (id, _) = send_test(&opened, &key, &url).await;
    let seen = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(seen[0].json()["type"], "webhook.test");
    let delivery = after_attempts(&opened, &key, &id, 1).await;
    assert_eq!(delivery["status"], "delivered", "{delivery:#}");
}

on_every_engine!(
    ssrf_refuses_literal_addresses_and_plain_http_when_saved,
    ssrf_refuses_a_name_resolving_to_a_private_address,
);

/// A network that is not one stops `eryxon serve` before it listens, naming the entry.
#[test]
fn a_bad_allowed_network_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("eryxon.db").display());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_eryxon"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
        .env(VAR, "10.0.0.0/8,10.0.0.0/33")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("\"10.0.0.0/33\" is not a network in CIDR notation")
            && stderr.contains(VAR),
        "{stderr}"
    );
}
