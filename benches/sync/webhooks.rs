//! Webhook deliveries to a real receiver (issue 20): how many deliveries per second one fast
//! receiver gets after bulk syncs, and how long after a single PUT's answer its event arrives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use eryxon::domain::network::AllowedNetworks;
use eryxon::domain::Entity;
use eryxon::store;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::http::{expect, Api};
use crate::knobs::{Engine, Knobs};
use crate::raw::Raw;
use crate::records::{flat_body, job, record_json, Row};
use crate::report::{ms, per_call, Figure};
use crate::scenarios::reps_of;
use crate::servers::{drop_db, fresh_db, key_and_tenant, Server};
use crate::BATCH;

/// Bulk calls of `BATCH` jobs per throughput repetition.
pub const THROUGHPUT_CALLS: usize = 5;
/// Single PUTs per latency repetition, and the pace they are sent at.
pub const LATENCY_PUTS: usize = 200;
const LATENCY_PACE: Duration = Duration::from_millis(20);
/// How long the receiver is waited for before the run fails.
const PATIENCE: Duration = Duration::from_secs(300);

/// When a delivery arrived, and the external id of its record.
struct Arrival {
    at: Instant,
    external_id: Option<String>,
}

/// An HTTP server on 127.0.0.1 answering 200 at once, recording each delivery's first
/// arrival by `webhook-id` (a retry would arrive again with the same id).
struct Receiver {
    url: String,
    seen: Arc<Mutex<HashMap<String, Arrival>>>,
    task: tokio::task::JoinHandle<()>,
}

type Seen = Arc<Mutex<HashMap<String, Arrival>>>;

async fn answer(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST;
    };
    let external_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["external_id"].as_str().map(str::to_owned));
    seen.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(id.to_owned())
        .or_insert(Arrival { at, external_id });
    StatusCode::OK
}

impl Receiver {
    async fn start() -> Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let seen: Seen = Arc::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(answer))
            .with_state(seen.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            url: format!("http://{address}/hook"),
            seen,
            task,
        })
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits until `n` distinct deliveries have arrived; answers the latest arrival.
    async fn wait_for(&self, n: usize) -> Result<Instant> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            {
                let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                if seen.len() >= n {
                    return seen.values().map(|a| a.at).max().context("no arrival");
                }
            }
            ensure!(
                Instant::now() < deadline,
                "the receiver got {} of {n} deliveries within {} s",
                self.count(),
                PATIENCE.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Arrivals by the external id of their record.
    fn by_external_id(&self) -> HashMap<String, Instant> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(|a| a.external_id.clone().map(|ext| (ext, a.at)))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the group measured: the time of each throughput repetition (`THROUGHPUT_CALLS` ×
/// `BATCH` deliveries) and every latency of every measured repetition.
pub struct Measured {
    pub throughput: Vec<Duration>,
    pub latencies: Vec<Duration>,
}

/// The `webhooks` group on a database of its own: a server allowed to reach 127.0.0.1, one
/// endpoint subscribed to `job.*` at a receiver that answers 200 at once.
pub async fn webhook_figures(
    engine: Engine,
    dir: &std::path::Path,
    knobs: &Knobs,
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let db = fresh_db(engine, dir, "webhooks").await?;
    let store = store::open(&db.url).await?;
    let mut raw = Raw::open(engine, &db.url).await?;
    let (key, _) = key_and_tenant(&*store, &mut raw, engine).await?;
    let allowed = AllowedNetworks::parse("127.0.0.1/32").map_err(anyhow::Error::msg)?;
    let server = Server::start_with(store.clone(), allowed).await?;
    let api = Api::new(&server.base, &key);
    let receiver = Receiver::start().await?;
    let registered = api
        .send(api.request(
            reqwest::Method::POST,
            "/api-webhooks",
            serde_json::to_vec(&json!({"url": receiver.url, "events": ["job.*"]}))?,
        )?)
        .await?;
    ensure!(
        registered.status == 201,
        "POST /api-webhooks answered {}: {}",
        registered.status,
        String::from_utf8_lossy(&registered.body)
    );

    let measured = measure(engine, &api, &receiver, knobs).await?;
    let records = THROUGHPUT_CALLS * BATCH;
    figures.push(per_call(
        engine,
        "webhook_throughput",
        records,
        &measured.throughput,
    ));
    let mut latencies = measured.latencies;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    figures.push(Figure {
        engine,
        bench: "webhook_latency".into(),
        records: 1,
        p50_ms: ms(at(0.5)),
        records_per_s: 1.0 / LATENCY_PACE.as_secs_f64(),
        ratio_to_ceiling: None,
        ratio_to_baseline: None,
        ratio_to_ceiling_events: None,
        p99_ms: Some(ms(at(0.99))),
    });

    drop(api);
    server.stop().await?;
    drop(receiver);
    drop(raw);
    drop(store);
    drop_db(&db).await?;
    Ok(())
}

async fn measure(
    engine: Engine,
    api: &Api,
    receiver: &Receiver,
    knobs: &Knobs,
) -> Result<Measured> {
    let mut throughput = Vec::new();
    let mut latencies = Vec::new();
    for (rep, measured) in reps_of(knobs, knobs.reps) {
        // Throughput: the bulk calls one after another, then until the last delivery arrives.
        let bodies: Vec<Vec<u8>> = (0..THROUGHPUT_CALLS)
            .map(|call| {
                let rows: Vec<Row> = (0..BATCH)
                    .map(|i| job(&format!("WT{rep}-{call}"), i, 0))
                    .collect();
                flat_body(Entity::Jobs, &rows)
            })
            .collect();
        let before = receiver.count();
        let start = Instant::now();
        for body in bodies {
            expect(&api.bulk("jobs", body).await?, BATCH as u64, 0, 0)?;
        }
        let last = receiver.wait_for(before + THROUGHPUT_CALLS * BATCH).await?;
        let took = last.saturating_duration_since(start);
        crate::progress(
            engine,
            &format!(
                "  webhooks {rep}: {} deliveries in {:.2} s",
                THROUGHPUT_CALLS * BATCH,
                took.as_secs_f64()
            ),
        );

        // Latency: single PUTs at a steady pace; each from its answer to its delivery.
        let before = receiver.count();
        let mut answered = Vec::with_capacity(LATENCY_PUTS);
        let mut pace = tokio::time::interval(LATENCY_PACE);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for i in 0..LATENCY_PUTS {
            pace.tick().await;
            let row = job(&format!("WL{rep}"), i, 0);
            let body = serde_json::to_vec(&Value::Object(record_json(&row, true)))?;
            let answer = api
                .send(api.request(reqwest::Method::PUT, "/api-jobs/sync", body)?)
                .await?;
            let at = Instant::now();
            ensure!(answer.status == 201, "PUT answered {}", answer.status);
            answered.push((row.ext, at));
        }
        receiver.wait_for(before + LATENCY_PUTS).await?;
        let arrivals = receiver.by_external_id();
        if measured {
            throughput.push(took);
            for (ext, at) in answered {
                let arrived = arrivals.get(&ext).context("a PUT's delivery")?;
                latencies.push(arrived.saturating_duration_since(at));
            }
        }
    }
    Ok(Measured {
        throughput,
        latencies,
    })
}
