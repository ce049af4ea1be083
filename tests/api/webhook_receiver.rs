//! A real webhook receiver for the tests: an HTTP server on 127.0.0.1 port 0 that records what
//! it is sent and answers as told (fail N times, 410, 429 with Retry-After, answer slowly), and
//! an independent check of Standard Webhooks signatures (not the server's signing code).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Seen {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header: {:?}", self.headers))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn webhook_id(&self) -> String {
        self.header("webhook-id").to_owned()
    }
}

#[derive(Default)]
struct Inner {
    seen: Vec<Seen>,
    /// Answers to give before answering 200: status and an optional Retry-After.
    plan: VecDeque<(u16, Option<u64>)>,
    delay: Duration,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

async fn answer(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (planned, delay) = {
        let mut inner = inner.lock().unwrap();
        inner.seen.push(Seen {
            headers,
            body: body.to_vec(),
            at: Instant::now(),
        });
        (inner.plan.pop_front(), inner.delay)
    };
    tokio::time::sleep(delay).await;
    match planned {
        None => (StatusCode::OK, "ok").into_response(),
        Some((status, retry_after)) => {
            let mut response = (StatusCode::from_u16(status).unwrap(), "not now").into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", seconds.to_string().parse().unwrap());
            }
            response
        }
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new().fallback(answer).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{address}/hook"),
            inner,
        }
    }

    /// Answers `status` (with `Retry-After` seconds) to the next `times` requests.
    pub fn answer_next(&self, times: usize, status: u16, retry_after: Option<u64>) {
        let mut inner = self.inner.lock().unwrap();
        for _ in 0..times {
            inner.plan.push_back((status, retry_after));
        }
    }

    /// Takes this long over every answer.
    pub fn slow(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// The requests seen once there are at least `n`; panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Seen> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} requests within {within:?}: {:?}",
                seen.len(),
                seen.iter().map(|s| s.json()).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Standard Webhooks' check, written from the specification: some `v1,` signature in the header
/// is the base64 HMAC-SHA256, keyed with the secret's base64-decoded bytes, of
/// `{webhook-id}.{webhook-timestamp}.{body}`; and the timestamp is within 5 minutes.
pub fn verify_standard(secret: &str, seen: &Seen) -> bool {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64");
    let timestamp: i64 = seen
        .header("webhook-timestamp")
        .parse()
        .expect("unix seconds");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - timestamp).abs() > 300 {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{timestamp}.", seen.header("webhook-id")).as_bytes());
    mac.update(&seen.body);
    let expected = BASE64.encode(mac.finalize().into_bytes());
    seen.header("webhook-signature")
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
}

/// Eryxon's check: `sha256=` and the hex HMAC-SHA256 of the body keyed with the secret's text.
pub fn verify_eryxon(secret: &str, seen: &Seen) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&seen.body);
    seen.header("x-eryxon-signature")
        == format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
