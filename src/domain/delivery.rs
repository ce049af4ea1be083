//! Webhook endpoints and deliveries as the API shows them, and what an attempt's answer means
//! for its delivery. No I/O.

use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use super::webhook::RetrySchedule;

/// An endpoint as listed; its secret only in the answer that made it.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub description: Option<String>,
    /// Why the server stopped sending to it, when it did.
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub at: String,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    /// The first KiB of the answer.
    pub response: Option<String>,
}

/// A delivery of one event to one endpoint, with its attempts.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The body as sent.
    pub payload: Box<serde_json::value::RawValue>,
    pub attempt_log: Vec<Attempt>,
}

/// The statuses a delivery has.
pub const STATUSES: [&str; 3] = ["pending", "delivered", "failed"];

/// What an attempt's answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Delivered,
    /// Try again after this wait.
    Retry(Duration),
    /// The schedule is used up.
    Failed,
    /// `410 Gone`: the receiver asks to be sent nothing more; the endpoint is disabled at once.
    Disable,
}

/// The verdict on an attempt that answered `status` (none: a timeout, a refused connection, a
/// redirect), the `attempts` made so far this one included, `jitter` scaling the wait.
/// `Retry-After` on 429 and 503 lengthens the schedule's wait, never shortens it: a receiver
/// asking for 1 s had every attempt spent within seconds, where a plain 500 is retried over
/// the whole schedule (`webhooks::retries_run_out_and_honour_retry_after`).
pub fn verdict(
    status: Option<u16>,
    retry_after: Option<Duration>,
    attempts: u32,
    schedule: &RetrySchedule,
    jitter: f64,
) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        Some(410) => Verdict::Disable,
        _ => match schedule.after(attempts, jitter) {
            None => Verdict::Failed,
            Some(wait) => match (status, retry_after) {
                (Some(429 | 503), Some(asked)) => Verdict::Retry(asked.max(wait)),
                _ => Verdict::Retry(wait),
            },
        },
    }
}

/// Days of nothing but failures after which an endpoint is disabled.
pub const FAILING_DAYS: i64 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_decide_the_delivery() {
        let schedule = RetrySchedule::parse("1s,2s").unwrap();
        let s = Duration::from_secs;
        assert_eq!(
            verdict(Some(204), None, 1, &schedule, 1.0),
            Verdict::Delivered
        );
        assert_eq!(
            verdict(Some(410), None, 1, &schedule, 1.0),
            Verdict::Disable
        );
        assert_eq!(
            verdict(Some(500), None, 1, &schedule, 1.0),
            Verdict::Retry(s(1))
        );
        assert_eq!(verdict(None, None, 2, &schedule, 1.0), Verdict::Retry(s(2)));
        assert_eq!(verdict(Some(500), None, 3, &schedule, 1.0), Verdict::Failed);
        assert_eq!(
            verdict(Some(429), Some(s(7)), 1, &schedule, 1.0),
            Verdict::Retry(s(7))
        );
        assert_eq!(
            verdict(Some(503), Some(s(0)), 2, &schedule, 1.0),
            Verdict::Retry(s(2)),
            "a shorter wait asked for keeps the schedule's"
        );
        assert_eq!(
            verdict(Some(500), Some(s(7)), 1, &schedule, 1.0),
            Verdict::Retry(s(1))
        );
        assert_eq!(verdict(Some(302), None, 3, &schedule, 1.0), Verdict::Failed);
    }
}
