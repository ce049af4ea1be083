//! Webhook endpoints as the API takes them, what they subscribe to, the bodies and signatures
//! of deliveries, and the retry schedule. No I/O.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::Sha256;

use super::decode::FieldError;
use super::event::{Event, TypeFilter};
use super::expect;
use super::network::{check_target, AllowedNetworks};
use super::patch::Patch;

/// The secret prefix Standard Webhooks uses; what follows is the key, in base64.
pub const SECRET_PREFIX: &str = "whsec_";
/// The longest description kept.
pub const MAX_DESCRIPTION: usize = 500;
/// The longest URL accepted.
pub const MAX_URL: usize = 2000;

/// A new signing secret: `whsec_` and base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", BASE64.encode(key))
}

/// The key bytes a secret stands for (what follows `whsec_`, decoded); a secret that does not
/// decode signs with its own bytes, so a stored value never makes a delivery impossible.
fn key_of(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| BASE64.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// One Standard Webhooks signature: `v1,` and base64 of HMAC-SHA256 over
/// `{id}.{timestamp}.{body}` keyed with the secret's decoded bytes.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(
        &key_of(secret),
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", BASE64.encode(mac))
}

/// The `webhook-signature` header: the current secret's signature, and beside it (space
/// separated) the previous secret's while a rotation's grace lasts.
pub fn signature_header(
    current: &str,
    previous: Option<&str>,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let mut header = standard_signature(current, id, timestamp, body);
    if let Some(previous) = previous {
        header.push(' ');
        header.push_str(&standard_signature(previous, id, timestamp, body));
    }
    header
}

/// `X-Eryxon-Signature`: `sha256=` and the hex HMAC-SHA256 of the body keyed with the secret
/// as the receiver was given it (the whole `whsec_…` text), as Eryxon's own receivers check it.
/// One signature: during a rotation's overlap the sender passes the previous secret.
pub fn eryxon_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
    )
}

/// The body of a delivery: Standard Webhooks' `type`, `timestamp`, `data`, Eryxon's type keys
/// (`event` as its implementation sends it, `event_type` as its documents name it) and
/// `tenant_id`, the mode, and the event's ids so a receiver can deduplicate and look the
/// record up. A receiver serving several tenants, or live and test keys, tells them apart by
/// `tenant_id` and `mode` (`webhooks::an_operation_start_is_delivered_signed`).
#[derive(Debug, Serialize)]
pub struct Body<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub mode: &'a str,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    #[serde(rename = "event")]
    pub eryxon_event: &'a str,
    #[serde(rename = "event_type")]
    pub eryxon_type: &'a str,
    pub timestamp: &'a str,
    pub entity: Option<&'a str>,
    pub record_id: Option<String>,
    pub external_source: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub data: &'a RawValue,
}

impl<'a> Body<'a> {
    /// `tenant_id` hyphenated, as the store keeps it; `mode` `live` or `test`.
    pub fn of(event: &'a Event, tenant_id: &'a str, mode: &'a str) -> Body<'a> {
        Body {
            id: &event.id,
            tenant_id,
            mode,
            event_type: &event.event_type,
            eryxon_event: &event.event_type,
            eryxon_type: &event.event_type,
            timestamp: &event.occurred_at,
            entity: event.entity.as_deref(),
            record_id: event.record_id.map(|id| id.hyphenated().to_string()),
            external_source: event.external_source.as_deref(),
            external_id: event.external_id.as_deref(),
            data: &event.data,
        }
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a body always serializes")
    }
}

/// What `POST /api-webhooks` takes. Eryxon's clients may send one `event_type` instead of
/// `events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[serde(deserialize_with = "expect::text")]
    pub url: String,
    #[serde(default, deserialize_with = "expect::optional_texts")]
    pub events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "expect::optional_text")]
    pub event_type: Option<String>,
    #[serde(default, deserialize_with = "expect::optional_flag")]
    pub active: Option<bool>,
    #[serde(default, deserialize_with = "expect::optional_text")]
    pub description: Option<String>,
}

/// What `PATCH /api-webhooks/{id}` takes; absent fields stay as they are, `null` clears the
/// description and is refused for what an endpoint cannot be without.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    #[serde(default, deserialize_with = "expect::patch_text")]
    pub url: Patch<String>,
    #[serde(default, deserialize_with = "expect::patch_texts")]
    pub events: Patch<Vec<String>>,
    #[serde(default, deserialize_with = "expect::patch_text")]
    pub event_type: Patch<String>,
    #[serde(default, deserialize_with = "expect::flag")]
    pub active: Patch<bool>,
    #[serde(default, deserialize_with = "expect::patch_text")]
    pub description: Patch<String>,
}

/// An endpoint's checked settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub url: String,
    /// The subscription as stored: the event types and `kind.*` wildcards, comma-separated.
    pub events: String,
    pub active: bool,
    pub description: Option<String>,
}

/// A checked change to an endpoint: `None` keeps a value; the description may be cleared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    pub url: Option<String>,
    pub events: Option<String>,
    pub active: Option<bool>,
    pub description: Patch<String>,
}

impl CreateBody {
    pub fn check(self, allowed: &AllowedNetworks) -> Result<Settings, FieldError> {
        let events = subscription(self.events, self.event_type)?
            .ok_or_else(|| FieldError::new("events", "is required: the event types to send"))?;
        Ok(Settings {
            url: check_url(&self.url, allowed)?,
            events,
            active: self.active.unwrap_or(true),
            description: self.description.map(check_description).transpose()?,
        })
    }
}

impl PatchBody {
    /// `null` was silently taken as "keep" everywhere (`webhooks_rules::null_clears_the_description_and_is_refused_for_the_url`).
    pub fn check(self, allowed: &AllowedNetworks) -> Result<Change, FieldError> {
        let description = match self.description {
            Patch::Value(text) => Patch::Value(check_description(text)?),
            Patch::Null => Patch::Null,
            Patch::Absent => Patch::Absent,
        };
        Ok(Change {
            url: required(self.url, "url", "the address to send to")?
                .as_deref()
                .map(|url| check_url(url, allowed))
                .transpose()?,
            events: subscription(
                required(self.events, "events", "the event types to send")?,
                required(self.event_type, "event_type", "the event type to send")?,
            )?,
            active: required(self.active, "active", "true or false")?,
            description,
        })
    }
}

/// A changed value an endpoint cannot be without: `null` is refused, naming what it takes.
fn required<T>(value: Patch<T>, field: &str, what: &str) -> Result<Option<T>, FieldError> {
    match value {
        Patch::Absent => Ok(None),
        Patch::Null => Err(FieldError::new(
            field,
            format!("is required and cannot be null: {what}"),
        )),
        Patch::Value(value) => Ok(Some(value)),
    }
}

fn check_description(text: String) -> Result<String, FieldError> {
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    // As in every text of the API; PostgreSQL cannot store it, and answered a 500
    // (`webhooks_rules::nul_texts_and_year_zero_are_refused`).
    if text.contains('\0') {
        return Err(FieldError::new(
            "description",
            "must not contain NUL characters",
        ));
    }
    Ok(text)
}

/// The stored subscription of `events` (or Eryxon's single `event_type`), every type checked
/// (`webhooks::endpoints_are_managed`).
fn subscription(
    events: Option<Vec<String>>,
    event_type: Option<String>,
) -> Result<Option<String>, FieldError> {
    let (field, items) = match (events, event_type) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "event_type",
                "send either events or event_type, not both",
            ))
        }
        (Some(events), None) => ("events", events),
        (None, Some(one)) => ("event_type", vec![one]),
        (None, None) => return Ok(None),
    };
    if items.is_empty() {
        return Err(FieldError::new(field, "must name at least one event type"));
    }
    let items: Vec<&str> = items.iter().map(|s| s.trim()).collect();
    if let Some(bad) = items.iter().find(|s| s.is_empty() || s.contains(',')) {
        return Err(FieldError::new(
            field,
            format!("unknown event type {bad:?}; use names such as operation.completed or job.*"),
        ));
    }
    let joined = items.join(",");
    TypeFilter::parse(field, &joined)?;
    Ok(Some(joined))
}

/// The filter a stored subscription stands for; one no longer known matches nothing.
pub fn filter_of(events: &str) -> Option<TypeFilter> {
    TypeFilter::parse("events", events).ok()
}

/// An endpoint URL: `http` or `https`, with a host, no credentials, and a target the network
/// rules of [`crate::domain::network`] allow without resolving its name.
pub fn check_url(text: &str, allowed: &AllowedNetworks) -> Result<String, FieldError> {
    let bad = |why: &str| FieldError::new("url", format!("{why} (got {text:?})"));
    let text = text.trim();
    if text.len() > MAX_URL {
        return Err(bad("is too long"));
    }
    let url = reqwest::Url::parse(text).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    // As written, not as parsed: a URL parser reads `https:///x` as `https://x/`, a host the
    // tenant never named (`tests::urls_must_be_http_with_a_host`).
    let written_host = text
        .get(url.scheme().len() + 1..)
        .and_then(|rest| rest.strip_prefix("//"))
        .is_some_and(|rest| !rest.starts_with(['/', '\\']));
    if url.host_str().is_none_or(str::is_empty) || !written_host {
        return Err(bad("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if let Some(host) = url.host() {
        check_target(&host, url.scheme() == "https", allowed).map_err(|why| bad(&why))?;
    }
    Ok(url.to_string())
}

/// The waits between attempts: after the first failure the first wait, and so on; when they
/// are used up the delivery has failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

/// Standard Webhooks' schedule (as Svix runs it).
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule::parse(DEFAULT_RETRY_SCHEDULE).expect("the default schedule parses")
    }
}

impl RetrySchedule {
    /// `1s,2s,5s`: whole numbers with `ms`, `s`, `m`, `h` or `d`.
    pub fn parse(text: &str) -> Result<RetrySchedule, String> {
        text.split(',')
            .map(|item| {
                let item = item.trim();
                let split = item
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(item.len());
                let (number, unit) = item.split_at(split);
                let n: u64 = number
                    .parse()
                    .map_err(|_| format!("{item:?} is not a duration such as 5s, 10m or 2h"))?;
                let wait = match unit {
                    "ms" => Duration::from_millis(n),
                    "s" => Duration::from_secs(n),
                    "m" => Duration::from_secs(n.saturating_mul(60)),
                    "h" => Duration::from_secs(n.saturating_mul(3600)),
                    "d" => Duration::from_secs(n.saturating_mul(86_400)),
                    _ => return Err(format!("{item:?} is not a duration such as 5s, 10m or 2h")),
                };
                // A wait is added to the time of the attempt; one this long would overflow
                // the clock (`tests::a_wait_longer_than_the_longest_is_refused`).
                if wait > MAX_RETRY_WAIT {
                    return Err(format!("{item:?} is longer than the longest wait, 30d"));
                }
                Ok(wait)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(RetrySchedule)
    }

    /// The wait before the next attempt after `attempts` failed ones, scaled by `jitter`
    /// (0.9 to 1.1); `None` when the schedule is used up.
    pub fn after(&self, attempts: u32, jitter: f64) -> Option<Duration> {
        let wait = self.0.get((attempts as usize).checked_sub(1)?)?;
        Some(wait.mul_f64(jitter))
    }
}

/// The longest wait a retry schedule may hold.
pub const MAX_RETRY_WAIT: Duration = Duration::from_secs(30 * 86_400);

/// A `Retry-After` header's wait (seconds; an HTTP date is not honoured), at most a day.
pub fn retry_after(header: &str) -> Option<Duration> {
    let seconds: u64 = header.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(86_400)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_vector() {
        // The test vector of the Standard Webhooks reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            standard_signature(secret, id, 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let both = signature_header(secret, Some("whsec_AAAA"), id, 1614265330, body);
        assert!(both.starts_with("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,"));
        // Eryxon's form: hex over the body alone, keyed with the secret's text.
        assert_eq!(
            eryxon_signature("key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn secrets_hold_32_random_bytes() {
        let secret = new_secret();
        assert_eq!(key_of(&secret).len(), 32);
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn subscriptions_are_checked() {
        let body = |events: serde_json::Value| -> Result<Settings, FieldError> {
            serde_json::from_value::<CreateBody>(
                serde_json::json!({"url": "https://erp.example/hook", "events": events}),
            )
            .unwrap()
            .check(&AllowedNetworks::default())
        };
        assert_eq!(
            body(serde_json::json!(["job.*", "operation.completed"]))
                .unwrap()
                .events,
            "job.*,operation.completed"
        );
        assert_eq!(
            body(serde_json::json!(["job.finished"]))
                .unwrap_err()
                .field
                .as_deref(),
            Some("events")
        );
        assert!(body(serde_json::json!([])).is_err());
        let filter = filter_of("job.*,operation.completed").unwrap();
        assert!(filter.matches("job.started") && !filter.matches("operation.started"));
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        let loopback = AllowedNetworks::parse("127.0.0.1/32").unwrap();
        assert!(check_url("https://erp.example/hook", &loopback).is_ok());
        assert!(check_url("http://127.0.0.1:9000/x", &loopback).is_ok());
        for bad in [
            "ftp://erp.example/",
            "not a url",
            "https://user:pw@erp.example/",
            "file:///etc",
            "http://127.0.0.2:9000/x",
            "https://[::1]/x",
            // Other spellings of addresses, which URL parsing turns into 127.0.0.2 and 10.0.0.1.
            "https://2130706434/x",
            "https://0xa.1/x",
            // No host as written, though a parser makes `x` the host.
            "https:///x",
            "https:x",
        ] {
            assert_eq!(
                check_url(bad, &loopback).unwrap_err().field.as_deref(),
                Some("url"),
                "{bad}"
            );
        }
    }

    #[test]
    fn schedules_parse_and_run_out() {
        let schedule = RetrySchedule::parse("1s,2m,500ms").unwrap();
        assert_eq!(schedule.after(1, 1.0), Some(Duration::from_secs(1)));
        assert_eq!(schedule.after(2, 1.0), Some(Duration::from_secs(120)));
        assert_eq!(schedule.after(3, 1.0), Some(Duration::from_millis(500)));
        assert_eq!(schedule.after(4, 1.0), None);
        assert_eq!(RetrySchedule::default().0.len(), 7);
        assert!(RetrySchedule::parse("1s,soon").is_err());
        assert_eq!(retry_after(" 3 "), Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_wait_longer_than_the_longest_is_refused() {
        assert!(RetrySchedule::parse("30d").is_ok());
        let refused = RetrySchedule::parse("1s,31d").unwrap_err();
        assert!(
            refused.contains("\"31d\" is longer than the longest wait, 30d"),
            "{refused}"
        );
        assert!(RetrySchedule::parse("99999999999999999d").is_err());
        assert!(RetrySchedule::parse("18446744073709551615ms").is_err());
    }
}
