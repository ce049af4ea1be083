//! Per-key request limits in fixed one-minute windows, reported in `X-RateLimit-*` headers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use uuid::Uuid;

const WINDOW_SECS: u64 = 60;

pub struct RateLimiter {
    limit: u32,
    /// Per key: the window it was last seen in and how many requests it made there.
    windows: Mutex<HashMap<Uuid, (u64, u32)>>,
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
        RateLimiter {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `key` against its current window.
    pub fn check(&self, key: Uuid) -> RateDecision {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.check_at(key, now)
    }

    fn check_at(&self, key: Uuid, now: u64) -> RateDecision {
        let window = now / WINDOW_SECS;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (seen_in, used) = windows.entry(key).or_insert((window, 0));
        if *seen_in != window {
            *seen_in = window;
            *used = 0;
        }
        let allowed = *used < self.limit;
        if allowed {
            *used += 1;
        }
        RateDecision {
            allowed,
            limit: self.limit,
            remaining: self.limit - *used,
            reset: (window + 1) * WINDOW_SECS,
            now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_holds_within_a_window_and_resets_after_it() {
        let limiter = RateLimiter::per_minute(2);
        let key = Uuid::now_v7();
        let start = 6_000;
        assert_eq!(limiter.check_at(key, start).remaining, 1);
        assert!(limiter.check_at(key, start + 1).allowed);
        let refused = limiter.check_at(key, start + 30);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset, start + 60);
        assert_eq!(refused.retry_after(), 30);
        assert!(limiter.check_at(key, start + 60).allowed);
    }

    #[test]
    fn keys_are_limited_separately() {
        let limiter = RateLimiter::per_minute(1);
        assert!(limiter.check_at(Uuid::now_v7(), 60).allowed);
        assert!(limiter.check_at(Uuid::now_v7(), 60).allowed);
    }
}
