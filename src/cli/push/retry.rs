//! How hard `eryxon push` tries a request: attempts, backoff, the server's `Retry-After`, and
//! how long it waits for an earlier attempt of a request that still runs on the server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::store::IDEMPOTENCY_STALE_MINUTES;

/// How long a chunk waits for an earlier attempt of itself that the server says still runs: a
/// minute past the time after which the server frees the key of a request that never answered
/// (`push_retries::a_chunk_waits_for_its_earlier_attempt`).
pub(super) const RUNNING_PATIENCE: Duration =
    Duration::from_secs(IDEMPOTENCY_STALE_MINUTES as u64 * 60 + 60);

/// How hard to try before giving up on a request.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// The first backoff; each retry doubles it up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Caps every wait, `Retry-After` included.
    pub max_wait: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: None,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`: `Retry-After` when the server gave one,
    /// otherwise exponential backoff with jitter so that concurrent requests spread out.
    pub(super) fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let wait = retry_after.unwrap_or_else(|| {
            let exponential = self
                .base_backoff
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(self.max_backoff);
            exponential.mul_f64(rand::thread_rng().gen_range(0.75..=1.25))
        });
        match self.max_wait {
            Some(max) => wait.min(max),
            None => wait,
        }
    }
}

/// `Retry-After` in seconds, or else the time until `X-RateLimit-Reset`.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = |name| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    if let Some(seconds) = seconds(RETRY_AFTER.as_str()) {
        return Some(Duration::from_secs(seconds));
    }
    let reset = seconds("x-ratelimit-reset")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds_and_every_wait_is_capped() {
        let policy = RetryPolicy::default();
        let first = policy.wait(1, None);
        assert!(first >= Duration::from_millis(375) && first <= Duration::from_millis(625));
        let late = policy.wait(12, None);
        assert!(late <= Duration::from_millis(37_500), "{late:?}");
        assert_eq!(
            policy.wait(1, Some(Duration::from_secs(40))),
            Duration::from_secs(40),
            "Retry-After is honoured as given"
        );
        let capped = RetryPolicy {
            max_wait: Some(Duration::from_millis(200)),
            ..policy
        };
        assert_eq!(
            capped.wait(1, Some(Duration::from_secs(40))),
            Duration::from_millis(200)
        );
        assert_eq!(capped.wait(9, None), Duration::from_millis(200));
    }

    #[test]
    fn retry_after_falls_back_to_the_reset_time() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        let mut headers = HeaderMap::new();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        headers.insert("x-ratelimit-reset", (now + 20).to_string().parse().unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait >= Duration::from_secs(19) && wait <= Duration::from_secs(20));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
