//! One HTTP attempt of a delivery: Standard Webhooks' headers and Eryxon's, a 15 s limit, no
//! redirects, at most 64 KiB of the answer read.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::domain::delivery::{verdict, Verdict};
use crate::domain::webhook::{eryxon_signature, retry_after, signature_header, RetrySchedule};
use crate::store::deliveries::{Claimed, Outcome};

use super::ssrf::{refusal_in, Clients};

pub(super) const TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer read; the rest is dropped with the connection.
const MAX_ANSWER: usize = 64 * 1024;
/// The most of an answer kept in the attempt log.
const KEPT_ANSWER: usize = 1024;

/// The clients' settings; `ssrf::Clients` adds the address rules.
pub(super) fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Eryxon-Sync-Webhooks/", env!("CARGO_PKG_VERSION")))
}

/// Sends `delivery` once and judges the answer. An address the network rules refuse is a
/// failed attempt like a refused connection, retried on the schedule, since the operator may
/// open its network meanwhile (`webhook_ssrf::ssrf_refuses_a_name_resolving_to_a_private_address`).
pub(super) async fn attempt(
    clients: &Clients,
    delivery: &Claimed,
    schedule: &RetrySchedule,
) -> Outcome {
    let at = time::OffsetDateTime::now_utc();
    let started = Instant::now();
    let (http_status, error, head, wait) = match clients.for_url(&delivery.url) {
        Ok(client) => send(client, delivery, at.unix_timestamp()).await,
        Err(refused) => (None, Some(refused.0), None, None),
    };
    let latency_ms = started.elapsed().as_millis() as u64;
    let jitter = rand::thread_rng().gen_range(0.9..=1.1);
    let verdict = verdict(http_status, wait, delivery.attempts + 1, schedule, jitter);
    if verdict != Verdict::Delivered {
        // Ids, status and error only: never the headers, which carry the signatures. Fields
        // absent when there is none (no `http_status` for a refused connection), in the log's
        // own words: `Some("…")` is no value a log query matches.
        let (next, retry_in_s) = match &verdict {
            Verdict::Retry(wait) => ("retry", Some(wait.as_secs())),
            Verdict::Failed => ("failed", None),
            _ => ("disabled", None),
        };
        tracing::info!(
            endpoint = %delivery.endpoint_id,
            delivery = %delivery.id,
            event = %delivery.event_id,
            attempt = delivery.attempts + 1,
            http_status,
            error = error.as_deref(),
            next,
            retry_in_s,
            "webhook attempt failed"
        );
    }
    Outcome {
        at,
        ended: time::OffsetDateTime::now_utc(),
        http_status,
        error,
        latency_ms,
        response_head: head,
        verdict,
    }
}

type Sent = (
    Option<u16>,
    Option<String>,
    Option<String>,
    Option<Duration>,
);

/// The HTTP exchange: status, error, the kept head of the answer, and `Retry-After`.
async fn send(client: &reqwest::Client, delivery: &Claimed, timestamp: i64) -> Sent {
    let body = delivery.body.as_bytes();
    let request = client
        .post(&delivery.url)
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            signature_header(
                &delivery.secret,
                delivery.previous_secret.as_deref(),
                &delivery.event_id,
                timestamp,
                body,
            ),
        )
        .header("x-eryxon-event", &delivery.event_type)
        // One signature only, so the previous secret's while a rotation's overlap lasts: a
        // receiver checking only this header keeps working until the overlap ends, as one
        // checking `webhook-signature` with the old secret does
        // (`webhooks::rotation_signs_with_both_secrets`).
        .header(
            "x-eryxon-signature",
            eryxon_signature(
                delivery
                    .previous_secret
                    .as_deref()
                    .unwrap_or(&delivery.secret),
                body,
            ),
        )
        .body(delivery.body.clone());
    match request.send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after);
            let mut answer = Vec::new();
            let mut read_error = None;
            while answer.len() < MAX_ANSWER {
                match response.chunk().await {
                    Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) => {
                        read_error = Some(format!("reading the answer: {e}"));
                        break;
                    }
                }
            }
            answer.truncate(KEPT_ANSWER);
            let head = String::from_utf8_lossy(&answer).into_owned();
            let error = match status {
                200..=299 => None,
                300..=399 => Some(format!("answered {status}; redirects are not followed")),
                _ => Some(format!("answered {status}")),
            };
            // A 2xx whose body broke off is still delivered: the receiver accepted it.
            let error = error.or(read_error.filter(|_| !(200..=299).contains(&status)));
            (Some(status), error, Some(head), wait)
        }
        Err(e) if e.is_timeout() => (
            None,
            Some(format!("no answer within {} s", TIMEOUT.as_secs())),
            None,
            None,
        ),
        Err(e) => match refusal_in(&e) {
            Some(refused) => (None, Some(refused), None, None),
            None => (
                None,
                Some(format!("could not send: {}", describe(&e))),
                None,
                None,
            ),
        },
    }
}

/// An error with its causes.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
