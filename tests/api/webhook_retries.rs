//! Webhook retries: a failed delivery is sent again with the same id, retries run out and
//! honour `Retry-After`, and an endpoint answering 410 is disabled.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use eryxon::domain::api_key::{IssuedKey, KeyScopes, TenantSlug};
use eryxon::domain::webhook::Settings;
use eryxon::domain::{Mode, Scope};
use eryxon::store::deliveries::{claim, oldest_pending, refresh_statistics, Caps};
use eryxon::store::delivery_log::send_test;
use eryxon::store::webhooks;

use crate::common::{fresh_postgres_database, run_sql, Engine};
use crate::floor::routing;
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;
use crate::webhooks::{deliveries, quick_server, register, start, PATIENCE};

/// The worker's caps per endpoint, no tenant's in the way.
const CAPS: Caps = Caps {
    per_endpoint: 8,
    per_tenant: 64,
};

async fn failures_are_retried_with_the_same_id(engine: Engine) {
    let server = quick_server(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    receiver.answer_next(2, 500, None);
    let endpoint = register(&server, &key, &receiver.url, json!(["operation.started"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let (o1, _) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;

    let seen = receiver.wait_for(3, PATIENCE).await;
    assert!(seen.iter().all(|s| s.webhook_id() == seen[0].webhook_id()));
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(850),
        "waited before retrying"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged = deliveries(&server, &key, id).await;
    let started: Vec<&Value> = logged
        .iter()
        .filter(|d| d["event_type"] == "operation.started")
        .collect();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["status"], "delivered");
    assert_eq!(started[0]["attempts"], 3);
    let statuses: Vec<&Value> = started[0]["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["http_status"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    // Eryxon's log route answers the same.
    let logs = server
        .get(
            &format!("/api-webhook-logs?webhook_id={id}&status=delivered"),
            &key,
        )
        .await
        .expect(200);
    assert_eq!(
        logs.data()["deliveries"].as_array().unwrap().len(),
        logged.len()
    );
    server
        .get("/api-webhook-logs?status=lost", &key)
        .await
        .expect(400);
}

async fn retries_run_out_and_honour_retry_after(engine: Engine) {
    let server = quick_server(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    // 429 asking for 2 s, then failures past the schedule's three retries.
    receiver.answer_next(1, 429, Some(2));
    receiver.answer_next(3, 503, None);
    let endpoint = register(&server, &key, &receiver.url, json!(["operation.started"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let (o1, _) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;
    let seen = receiver.wait_for(4, PATIENCE).await;
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(1900),
        "Retry-After honoured"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.seen().len(), 4, "1 attempt and 3 retries");
    let logged = deliveries(&server, &key, id).await;
    assert_eq!(logged[0]["status"], "failed");
    assert_eq!(logged[0]["attempts"], 4);

    // By hand: one more attempt now, which the receiver takes.
    let delivery = logged[0]["id"].as_str().unwrap();
    let queued = server
        .send(
            reqwest::Method::POST,
            &format!("/api-webhooks/{id}/deliveries/{delivery}/retry"),
            Some(&key),
            None,
            None,
        )
        .await
        .expect(202);
    assert_eq!(queued.body["data"]["delivery_id"], delivery);
    assert_eq!(queued.body["data"]["event_id"], logged[0]["event_id"]);
    let seen = receiver.wait_for(5, PATIENCE).await;
    assert_eq!(seen[4].webhook_id(), seen[0].webhook_id());
    assert_eq!(
        seen[4].webhook_id(),
        logged[0]["event_id"].as_str().unwrap()
    );
}

async fn gone_disables_the_endpoint(engine: Engine) {
    let server = quick_server(engine).await;
    let key = server.key("acme").await;
    let receiver = Receiver::start().await;
    receiver.answer_next(1, 410, None);
    let endpoint = register(&server, &key, &receiver.url, json!(["operation.started"])).await;
    let id = endpoint["id"].as_str().unwrap();
    let (o1, o2) = routing(&server, &key).await;
    start(&server, &key, "start", &o1).await;
    receiver.wait_for(1, PATIENCE).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let now = server
            .get(&format!("/api-webhooks/{id}"), &key)
            .await
            .expect(200);
        if now.data()["active"] == false {
            assert!(now.data()["disabled_reason"]
                .as_str()
                .unwrap()
                .contains("410"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not disabled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let feed = server
        .get("/api-events?types=webhook.endpoint_disabled", &key)
        .await
        .expect(200);
    let event = &feed.data()["events"][0];
    assert_eq!(event["data"]["webhook_id"], id);
    // Nothing more is sent to it.
    start(&server, &key, "start", &o2).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.seen().len(), 1);
}

/// One endpoint's backlog does not hold up another endpoint's delivery: each endpoint's due
/// deliveries are claimed on their own, up to its room. (Claimed from every endpoint's
/// together, oldest first, the backlog filled every candidate slot, the candidates beyond the
/// busy endpoint's room were dropped, and an endpoint behind it waited minutes.) Run on a
/// store of its own, so no worker claims beside the test.
/// A store of its own (no server, so no worker claims behind the test's back), a tenant's
/// scope in it, and a way to make an active endpoint there.
struct ClaimStore {
    _dir: tempfile::TempDir,
    url: String,
    store: std::sync::Arc<dyn eryxon::store::Store>,
    scope: Scope,
}

impl ClaimStore {
    async fn open(engine: Engine) -> ClaimStore {
        let dir = tempfile::tempdir().unwrap();
        let url = match engine {
            Engine::Sqlite => format!("sqlite://{}", dir.path().join("claim.db").display()),
            Engine::Postgres => fresh_postgres_database().await,
        };
        let store = eryxon::store::open(&url).await.unwrap();
        let key = IssuedKey::generate(Mode::Live);
        let tenant = TenantSlug::parse("acme").unwrap();
        store
            .create_api_key(&tenant, None, &key, KeyScopes::ALL)
            .await
            .unwrap();
        let stored = store.find_api_key(&key.secret[9..21]).await.unwrap();
        let scope = Scope {
            tenant_id: stored.unwrap().tenant_id,
            mode: Mode::Live,
        };
        ClaimStore {
            _dir: dir,
            url,
            store,
            scope,
        }
    }

    async fn endpoint(&self, url: &str) -> uuid::Uuid {
        let settings = Settings {
            url: url.to_owned(),
            events: "job.*".to_owned(),
            active: true,
            description: None,
        };
        webhooks::create(&*self.store, self.scope, &settings)
            .await
            .unwrap()
            .id
    }

    async fn sql(&self, engine: Engine, sql: &str) {
        match engine {
            Engine::Sqlite => run_sql::<sqlx::SqliteConnection>(&self.url, sql).await,
            Engine::Postgres => run_sql::<sqlx::PgConnection>(&self.url, sql).await,
        }
    }
}

async fn a_backlog_of_one_endpoint_does_not_hold_up_the_others(engine: Engine) {
    let db = ClaimStore::open(engine).await;
    let (busy, other) = (
        db.endpoint("https://a.example/").await,
        db.endpoint("https://b.example/").await,
    );
    for _ in 0..20 {
        send_test(&*db.store, db.scope, busy)
            .await
            .unwrap()
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    send_test(&*db.store, db.scope, other)
        .await
        .unwrap()
        .unwrap();

    let claimed = claim(&*db.store, 9, CAPS, Duration::from_secs(60))
        .await
        .unwrap();
    let to = |endpoint| claimed.iter().filter(|c| c.endpoint_id == endpoint).count();
    assert_eq!((to(busy), to(other)), (8, 1));
}

/// An endpoint switched off while its receiver is down keeps its due deliveries for later; the
/// worker's tick, several a second, must not walk them: it did, and an idle server spent a core
/// at 200 000 of them. A tick here costs well under a millisecond; walking the backlog, tens.
async fn a_paused_endpoints_backlog_costs_a_tick_nothing(engine: Engine) {
    let backlog = 100_000;
    let db = ClaimStore::open(engine).await;
    let paused = db.endpoint("https://paused.example/").await;
    // Another endpoint, on and with nothing to send: a tick looks at it, and only at it.
    db.endpoint("https://idle.example/").await;
    send_test(&*db.store, db.scope, paused)
        .await
        .unwrap()
        .unwrap();
    // The one delivery, copied: each its own record, all due now.
    db.sql(
        engine,
        &format!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, position, \
               record_id, body, status, attempts, next_attempt_at, created_at) \
             SELECT substr(d.id, 1, 24) || substr(CAST(1000000000000 + c.n AS TEXT), 2), d.endpoint_id, d.event_id, d.event_type, d.position + c.n, \
               'record-' || c.n, d.body, 'pending', 0, d.next_attempt_at, d.created_at \
             FROM webhook_deliveries AS d, (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL \
               SELECT n + 1 FROM c WHERE n < {backlog}) SELECT n FROM c) AS c; \
             UPDATE webhook_endpoints SET active = 0 WHERE id = '{paused}'"
        ),
    )
    .await;
    // As the worker does after a fan-out: the planner knows the backlog is there.
    refresh_statistics(&*db.store).await.unwrap();

    let mut ticks = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let claimed = claim(&*db.store, 64, CAPS, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(claimed.is_empty(), "the endpoint is off");
        ticks.push(started.elapsed());
    }
    // The fastest of them: other tests on a 2-core machine slow some ticks down (to 35 ms on
    // PostgreSQL), but a tick that walks the backlog is never fast (170–500 ms).
    let fastest = ticks.iter().min().unwrap();
    eprintln!("{engine:?}: the fastest tick beside {backlog} paused deliveries took {fastest:?}");
    assert!(
        *fastest < Duration::from_millis(20),
        "a tick took {fastest:?} beside {backlog} deliveries it cannot send: {ticks:?}"
    );

    // A metrics scrape reads the oldest pending delivery's age: one probe, not a sort.
    let mut scrapes = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let oldest = oldest_pending(&*db.store).await.unwrap();
        assert!(oldest.is_some(), "the backlog waits");
        scrapes.push(started.elapsed());
    }
    let fastest = scrapes.iter().min().unwrap();
    assert!(
        *fastest < Duration::from_millis(20),
        "the oldest pending delivery took {fastest:?} to find among {backlog}: {scrapes:?}"
    );

    // The backlog is real: switched back on, the endpoint is sent it.
    db.sql(engine, "UPDATE webhook_endpoints SET active = 1")
        .await;
    let claimed = claim(&*db.store, 64, CAPS, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        claimed.len(),
        8,
        "as many as the endpoint may have in flight"
    );
}

/// A tenant's 8 endpoints whose receiver never answers held all 64 of the instance's sends for
/// their 15 s timeout, and every other tenant's deliveries waited behind them (15 s to 2 min).
/// A tenant's endpoints hold at most 24 now: another tenant's event arrives at once.
async fn one_tenants_stuck_receivers_do_not_delay_another_tenant(engine: Engine) {
    let server = quick_server(engine).await;
    let (noisy, victim) = (server.key("noisy").await, server.key("victim").await);
    // A receiver that takes every connection and never answers.
    let stuck = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stuck_url = format!("http://{}/hook", stuck.local_addr().unwrap());
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let holding = held.clone();
    let accepting = tokio::spawn(async move {
        while let Ok((connection, _)) = stuck.accept().await {
            holding.lock().unwrap().push(connection);
        }
    });
    for _ in 0..8 {
        register(&server, &noisy, &stuck_url, json!(["cell.created"])).await;
    }
    let cells: Vec<Value> = (0..8)
        .map(|i| json!({"external_id": format!("N-{i}"), "external_source": "SAP", "name": format!("n{i}")}))
        .collect();
    server
        .post("/api-cells/bulk-sync", &noisy, &json!({ "cells": cells }))
        .await
        .expect(200);
    // 64 deliveries; let the worker take what it may of them.
    let started = Instant::now();
    while held.lock().unwrap().len() < 24 && started.elapsed() < PATIENCE {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        held.lock().unwrap().len(),
        24,
        "the tenant's sends are capped"
    );

    let receiver = Receiver::start().await;
    register(&server, &victim, &receiver.url, json!(["cell.created"])).await;
    let cell = json!({"external_id": "V-1", "external_source": "SAP", "name": "v"});
    let synced = Instant::now();
    server
        .put("/api-cells/sync", &victim, &cell)
        .await
        .expect(201);
    receiver.wait_for(1, Duration::from_secs(5)).await;
    assert!(synced.elapsed() < Duration::from_secs(5));
    // Let the stuck sends fail at once, so the server stops without waiting for them.
    accepting.abort();
    held.lock().unwrap().clear();
}

on_every_engine!(
    one_tenants_stuck_receivers_do_not_delay_another_tenant,
    a_backlog_of_one_endpoint_does_not_hold_up_the_others,
    a_paused_endpoints_backlog_costs_a_tick_nothing,
    failures_are_retried_with_the_same_id,
    retries_run_out_and_honour_retry_after,
    gone_disables_the_endpoint,
);
