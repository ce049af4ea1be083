//! A bounded soak: mixed single and bulk traffic from many keys against a low rate limit, for
//! `ERYXON_SOAK_SECS` seconds per engine. Ignored by plain `cargo test` for its length;
//! `scripts/test.sh` runs a short one, and a long one is
//! `ERYXON_SOAK_SECS=300 ./scripts/with-postgres.sh cargo test --test api soak:: -- --ignored
//! --test-threads=1 --nocapture`. It asserts that nothing but 429s went wrong and that memory
//! stayed flat, and prints latency percentiles.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::fresh_postgres_database;
use crate::deploy::{create_key, Instance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak of ERYXON_SOAK_SECS seconds: ./scripts/test.sh runs a short one"]
async fn soak_on_sqlite() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("soak.db").display());
    soak("sqlite", url, soak_seconds()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak of ERYXON_SOAK_SECS seconds on PostgreSQL: ./scripts/test.sh runs a short one"]
async fn soak_on_postgres() {
    let seconds = soak_seconds();
    soak("postgres", fresh_postgres_database().await, seconds).await;
}

/// Requests per key and minute: low enough that every key meets it, whatever the window split.
const SOAK_LIMIT_PER_MINUTE: u32 = 60;

/// How long each soak runs, which only the one who asks for a soak can say.
fn soak_seconds() -> u64 {
    std::env::var("ERYXON_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("set ERYXON_SOAK_SECS to the soak's length in seconds (./scripts/test.sh runs a short one)")
}

/// `seconds` of mixed traffic against an `eryxon serve` on the database at `url`.
async fn soak(engine: &str, url: String, seconds: u64) {
    let keys: Vec<String> = (0..8).map(|_| create_key(&url)).collect();
    // The limit counts in fixed one-minute windows, and a short soak may straddle two of them:
    // each key must pass the limit within half the soak, at the slowest engine's pace
    // (~200 requests per key per 10 s on PostgreSQL). Guarded by the `limited > 0` check below.
    let server = std::sync::Arc::new(Instance::spawn(&url, SOAK_LIMIT_PER_MINUTE).await);
    let cell = json!({"external_id": "WC-1", "external_source": "ERP", "name": "Cutting"});
    assert_eq!(
        server
            .put("/api-cells/sync", &keys[0], &cell)
            .await
            .status(),
        201
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let warm_rss = server.rss_kb();

    let workers: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(k, key)| {
            let (server, key) = (server.clone(), key.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let (mut latencies, mut limited, mut unexpected) = (Vec::new(), 0u64, Vec::new());
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let started = Instant::now();
                    let response = if n.is_multiple_of(5) {
                        let jobs: Vec<_> = (0..200)
                            .map(|j| json!({"external_id": format!("K{k}-B{}-J{j}", n % 50), "external_source": "ERP", "job_number": format!("{n}")}))
                            .collect();
                        http.post(format!("{}/api-jobs/bulk-sync", server.base))
                            .bearer_auth(&key)
                            .json(&json!({"jobs": jobs}))
                            .send()
                            .await
                    } else {
                        let job = json!({"external_id": format!("K{k}-S{}", n % 500), "external_source": "ERP", "job_number": format!("{n}")});
                        http.put(format!("{}/api-jobs/sync", server.base))
                            .bearer_auth(&key)
                            .json(&job)
                            .send()
                            .await
                    };
                    let status = response.map(|r| r.status().as_u16()).unwrap_or(0);
                    match status {
                        200 | 201 => latencies.push(started.elapsed()),
                        429 => {
                            limited += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        other => unexpected.push(other),
                    }
                }
                (latencies, limited, unexpected)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut limited = 0;
    for worker in workers {
        let (mut l, r, unexpected) = worker.await.unwrap();
        assert!(
            unexpected.is_empty(),
            "answers other than 2xx and 429: {unexpected:?}"
        );
        latencies.append(&mut l);
        limited += r;
    }
    latencies.sort();
    let percentile = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    let end_rss = server.rss_kb();
    eprintln!(
        "soak {engine} {seconds} s: {} answered, {limited} rate-limited, p50 {:?}, p99 {:?}, max {:?}, RSS {warm_rss} kB -> {end_rss} kB",
        latencies.len(),
        percentile(0.5),
        percentile(0.99),
        latencies.last().unwrap()
    );
    assert!(
        limited > 0,
        "no request met the limit of {SOAK_LIMIT_PER_MINUTE} per key and minute"
    );
    assert!(
        end_rss < warm_rss + 64 * 1024,
        "memory stays flat: {warm_rss} kB -> {end_rss} kB"
    );
}
