//! Per-key request limits in fixed one-minute windows, reported in `X-RateLimit-*` headers.
//! The store keeps the counts, so every instance on a shared database enforces one budget.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use uuid::Uuid;

use crate::store::{Store, StoreError};

const WINDOW_SECS: u64 = 60;

pub struct RateLimiter {
    limit: u32,
}

/// The verdict on one request, and what the headers tell the client.
#[derive(Debug, Clone, Copy)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix time (seconds) at which the window resets.
    pub reset: u64,
    now: u64,
}

impl RateDecision {
    fn of(limit: u32, requests: u32, now: u64) -> RateDecision {
        let window = now / WINDOW_SECS;
        RateDecision {
            allowed: requests <= limit,
            limit,
            remaining: limit.saturating_sub(requests),
            reset: (window + 1) * WINDOW_SECS,
            now,
        }
    }

    pub fn retry_after(&self) -> u64 {
        self.reset.saturating_sub(self.now).max(1)
    }

    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let pairs = [
            ("x-ratelimit-limit", u64::from(self.limit)),
            ("x-ratelimit-remaining", u64::from(self.remaining)),
            ("x-ratelimit-reset", self.reset),
        ];
        for (name, value) in pairs {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
}

impl RateLimiter {
    pub fn per_minute(limit: u32) -> RateLimiter {
        RateLimiter { limit }
    }

    /// Counts one request of `key` against its current window.
    pub async fn check(&self, store: &dyn Store, key: Uuid) -> Result<RateDecision, StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let requests = store.count_request(key, now / WINDOW_SECS).await?;
        Ok(RateDecision::of(self.limit, requests, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_allows_exactly_limit_requests_per_window() {
        let start = 6_000;
        let last = RateDecision::of(2, 2, start + 1);
        assert!(last.allowed);
        assert_eq!(last.remaining, 0);
        let refused = RateDecision::of(2, 3, start + 30);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset, start + 60);
        assert_eq!(refused.retry_after(), 30);
        assert_eq!(RateDecision::of(2, 1, start).remaining, 1);
    }
}
