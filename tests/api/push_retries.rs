//! `eryxon push` against a server that asks it to wait: the rate limiter's 429 and a load
//! balancer's 503, each with a `Retry-After`; retries are bounded and keep their idempotency key.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::common::{Engine, Options, TestServer};
use crate::on_every_engine;
use crate::push::{exit_code, generated_cells, push, summary, text, total};

/// Seconds into the current Unix minute, the rate limiter's window.
fn into_minute() -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Duration::from_millis((now.as_millis() % 60_000) as u64)
}

/// The limiter counts in fixed Unix minutes, so a push over the limit cannot finish before the
/// next minute: up to 60 s. This test keeps to one window and caps each wait (hidden
/// `--max-retry-wait`) to see, in bounded time, that a 429 is retried after its Retry-After,
/// that attempts are bounded and that the records it could not send are accounted for. The
/// next test sees a push finish after a Retry-After it honours in full.
async fn a_push_over_the_rate_limit_retries_then_gives_up_within_bounds(engine: Engine) {
    let options = Options {
        rate_limit_per_minute: 2,
        ..Options::default()
    };
    let server = TestServer::start_with(engine, options).await;
    let key = server.key("acme").await;
    let reader = server.key("acme").await;
    let dir = TempDir::new().unwrap();
    let path = generated_cells(dir.path(), 2_500, usize::MAX, usize::MAX);
    let left = Duration::from_secs(60) - into_minute();
    if left < Duration::from_secs(8) {
        tokio::time::sleep(left + Duration::from_millis(200)).await;
    }

    let started = Instant::now();
    let output = push(&[
        "--url",
        &server.base,
        "--key",
        &key,
        "--concurrency",
        "1",
        "--max-retry-wait",
        "0.2",
        &path.display().to_string(),
    ])
    .await;
    let elapsed = started.elapsed();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(exit_code(&output), 2, "{output:?}");
    assert!(
        stderr.contains("429 RATE_LIMITED; retrying in 0.2s (Retry-After"),
        "the wait is the server's Retry-After, capped: {stderr}"
    );
    assert!(stderr.contains("attempt 6 of 6"), "{stderr}");
    assert!(
        stderr.contains("lines 2002–2501: gave up after 6 attempts: 429 RATE_LIMITED"),
        "{stderr}"
    );
    assert!(stderr.contains("500 records got no answer"), "{stderr}");
    assert!(
        stdout.contains("5 requests retried (5 rate limited"),
        "{stdout}"
    );
    let not_sent_column = stdout.lines().next().unwrap().contains("NOT SENT");
    assert!(not_sent_column, "{stdout}");
    assert_eq!(summary(&stdout)["cells"], [2_500, 2_000, 0, 0, 0]);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(total(&server, "cells", &reader).await, 2_000);
}

/// A stand-in for a load balancer in front of the server: answers the first requests with
/// the given statuses, then passes requests through, noting each request's Idempotency-Key.
#[derive(Clone)]
struct Flaky {
    target: String,
    script: Arc<Mutex<VecDeque<StatusCode>>>,
    seen: Arc<Mutex<Vec<(Instant, String)>>>,
    client: reqwest::Client,
}

impl Flaky {
    /// A proxy to `target` on a port of its own answering `script` first: its state, its URL
    /// and its task.
    async fn start(
        target: &str,
        script: &[StatusCode],
    ) -> (Flaky, String, tokio::task::JoinHandle<std::io::Result<()>>) {
        let state = Flaky {
            target: target.to_owned(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            seen: Arc::default(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .fallback(flaky)
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        (state, proxy, task)
    }
}

async fn flaky(State(flaky): State<Flaky>, request: Request) -> Response {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    flaky.seen.lock().unwrap().push((Instant::now(), key));
    let scripted = flaky.script.lock().unwrap().pop_front();
    if let Some(status) = scripted {
        let code = match status {
            StatusCode::CONFLICT => "IDEMPOTENCY_IN_PROGRESS".to_owned(),
            other => format!("SCRIPTED_{}", other.as_u16()),
        };
        let body =
            format!(r#"{{"success":false,"error":{{"code":"{code}","message":"scripted"}}}}"#);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        return response;
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let upstream = flaky
        .client
        .request(parts.method, format!("{}{}", flaky.target, parts.uri))
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = upstream.status();
    let bytes = upstream.bytes().await.unwrap();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response
}

async fn retries_honour_retry_after_and_keep_the_idempotency_key(engine: Engine) {
    let server = TestServer::start(engine).await;
    let key = server.key("acme").await;
    let script = [
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    let (state, proxy, proxy_task) = Flaky::start(&server.base, &script).await;
    let dir = TempDir::new().unwrap();
    let path = generated_cells(dir.path(), 1_001, usize::MAX, usize::MAX);

    let output = push(&[
        "--url",
        &proxy,
        "--key",
        &key,
        "--concurrency",
        "1",
        &path.display().to_string(),
    ])
    .await;
    proxy_task.abort();
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 0, "{output:?}");
    assert_eq!(
        summary(&stdout)["cells"],
        [1_001, 1_001, 0, 0, 0],
        "{stdout}"
    );
    assert!(stdout.contains("2 requests retried (1 rate limited, 1 failed or timed out)"));
    assert_eq!(total(&server, "cells", &key).await, 1_001);

    let seen = state.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "429, 503, then each chunk once: {seen:?}");
    assert!(
        seen[1].0 - seen[0].0 >= Duration::from_secs(1),
        "Retry-After: 1 is waited out"
    );
    let keys: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    assert!(uuid::Uuid::parse_str(keys[0]).is_ok(), "{keys:?}");
    assert_eq!(
        (keys[0], keys[1]),
        (keys[2], keys[2]),
        "one key across retries"
    );
    assert_ne!(keys[2], keys[3], "a key per chunk");
}

/// A chunk told that an earlier attempt of itself still runs on the server (`409
/// IDEMPOTENCY_IN_PROGRESS`, as after a connection cut mid-request) asks again each second
/// without spending its 6 attempts, and gets its answer: the push succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_waits_for_its_earlier_attempt() {
    let server = TestServer::start(Engine::Sqlite).await;
    let key = server.key("acme").await;
    let (state, proxy, proxy_task) = Flaky::start(&server.base, &[StatusCode::CONFLICT; 7]).await;
    let dir = TempDir::new().unwrap();
    let path = generated_cells(dir.path(), 10, usize::MAX, usize::MAX);
    let output = push(&["--url", &proxy, "--key", &key, &path.display().to_string()]).await;
    proxy_task.abort();
    let stdout = text(&output.stdout);
    assert_eq!(exit_code(&output), 0, "{output:?}");
    assert_eq!(summary(&stdout)["cells"], [10, 10, 0, 0, 0], "{stdout}");
    let seen = state.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 8, "7 times still running, then answered");
    assert!(
        seen.iter().all(|(_, k)| *k == seen[0].1),
        "one key throughout"
    );
}

on_every_engine!(
    a_push_over_the_rate_limit_retries_then_gives_up_within_bounds,
    retries_honour_retry_after_and_keep_the_idempotency_key,
);
