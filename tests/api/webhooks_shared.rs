//! Webhooks with several servers on one database: every event of the log gets exactly one
//! delivery per endpoint while clients write through all of them at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Engine, TestServer};
use crate::on_every_engine;
use crate::webhook_receiver::Receiver;
use crate::webhooks::register;

const WRITERS: usize = 12;
const SYNCS_PER_WRITER: usize = 30;
const ENDPOINTS: usize = 10;
const SUBSCRIBED: &str = "cell.*,sync.completed";

/// Every subscribed event of the log, by id.
async fn logged_events(server: &TestServer, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let page = server
            .get(
                &format!("/api-events?limit=1000&types={SUBSCRIBED}{after}"),
                key,
            )
            .await
            .expect(200);
        let data = page.data();
        for event in data["events"].as_array().unwrap() {
            ids.push(event["id"].as_str().unwrap().to_owned());
        }
        if data["has_more"] != true {
            return ids;
        }
        after = format!("&after={}", data["next_cursor"].as_str().unwrap());
    }
}

/// How many deliveries the endpoint has of each event.
async fn deliveries_per_event(
    server: &TestServer,
    key: &str,
    webhook: &str,
) -> BTreeMap<String, usize> {
    let mut count = BTreeMap::new();
    for offset in (0..).step_by(1000) {
        let page = server
            .get(
                &format!("/api-webhooks/{webhook}/deliveries?limit=1000&offset={offset}"),
                key,
            )
            .await
            .expect(200);
        let deliveries = page.data()["deliveries"].as_array().unwrap().clone();
        for delivery in &deliveries {
            *count
                .entry(delivery["event_id"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        if deliveries.len() < 1000 {
            break;
        }
    }
    count
}

/// Waits until the endpoint has as many deliveries as there are events, then checks that each
/// event has exactly one.
async fn every_event_once(server: &TestServer, key: &str, webhook: &str, events: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while deliveries_per_event(server, key, webhook).await.len() < events.len()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Read once more when nothing moves: pages taken while deliveries were still being made
    // may have shifted under the offset.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = deliveries_per_event(server, key, webhook).await;
    let missing: Vec<&String> = events
        .iter()
        .filter(|e| !delivered.contains_key(*e))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events never got a delivery to {webhook}: {missing:?}",
        missing.len(),
        events.len()
    );
    let doubled: Vec<(&String, &usize)> = delivered.iter().filter(|(_, n)| **n != 1).collect();
    assert!(doubled.is_empty(), "delivered more than once: {doubled:?}");
    assert_eq!(
        delivered.len(),
        events.len(),
        "no delivery of another event"
    );
}

async fn sync_cell(server: &TestServer, key: &str, writer: usize, n: usize) {
    let cell = json!({"external_id": format!("WC-{writer}-{}", n % 5), "external_source": "SAP",
        "name": format!("Cell {writer}-{}", n % 5), "notes": format!("sync {n}")});
    let status = server.put("/api-cells/sync", key, &cell).await.status;
    assert!(status == 200 || status == 201, "{status}");
}

/// Three servers on one database, each fanning events out to ten endpoints (and four more
/// fan-out loops, as more instances would run), while 12 clients sync cells through all of
/// them: no event is skipped (an instance that found nothing after the cursor once moved
/// it to the log's last position, read after events committed meanwhile) and none is doubled.
async fn instances_sharing_a_database_fan_out_every_event_once(engine: Engine) {
    let first = TestServer::start(engine).await;
    let servers = [first.beside().await, first.beside().await, first];
    let key = servers[0].key("acme").await;
    let receiver = Receiver::start().await;
    // Ten endpoints: a round fans them out one after the other, so by the time it reaches the
    // later ones, what it read of who is behind is stale, as with many endpoints in production.
    let mut webhooks = Vec::new();
    for _ in 0..ENDPOINTS {
        let endpoint = register(
            &servers[0],
            &key,
            &receiver.url,
            json!(["cell.*", "sync.completed"]),
        )
        .await;
        webhooks.push(endpoint["id"].as_str().unwrap().to_owned());
    }
    let servers = std::sync::Arc::new(servers);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let (servers, key) = (servers.clone(), key.clone());
            tokio::spawn(async move {
                for n in 0..SYNCS_PER_WRITER {
                    sync_cell(&servers[(writer + n) % servers.len()], &key, writer, n).await;
                }
            })
        })
        .collect();
    // More fan-out rounds than three workers' ticks make, as more instances would run: each
    // round that finds the endpoint already fanned out by another is where events were lost.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rounds: Vec<_> = (0..4)
        .map(|_| {
            let (store, done) = (servers[0].store.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    eryxon::store::deliveries::fan_out(&*store).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for round in rounds {
        round.await.unwrap();
    }
    let events = logged_events(&servers[0], &key).await;
    assert!(
        events.len() >= WRITERS * SYNCS_PER_WRITER * 2,
        "{}",
        events.len()
    );
    for webhook in &webhooks {
        every_event_once(&servers[1], &key, webhook, &events).await;
    }
}

on_every_engine!(instances_sharing_a_database_fan_out_every_event_once);
