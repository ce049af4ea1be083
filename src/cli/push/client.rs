//! Bulk-sync requests with bounded retries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Deserialize;
use uuid::Uuid;

use super::input::Row;
use super::progress::Progress;
pub use super::retry::RetryPolicy;
use super::retry::{retry_after, RUNNING_PATIENCE};
use crate::domain::Entity;

/// What became of one record sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Rejected {
        code: String,
        field: Option<String>,
        error: String,
    },
}

/// Counts of retried requests, for the summary.
#[derive(Debug, Default)]
pub struct RetryCounts {
    pub rate_limited: AtomicU32,
    pub failed: AtomicU32,
}

/// Records, nested ones included, whose answer said they `kept` a value the shop floor owns,
/// for the summary: the ERP's value did not arrive, and the run says so
/// (`push_bodies::a_push_says_what_the_floor_kept`).
#[derive(Debug, Default)]
pub struct KeptCount(pub AtomicU32);

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    /// Ask the server what it would do, writing nothing.
    dry_run: bool,
    policy: RetryPolicy,
    /// No request starts before this: after a 429 the whole key is over its budget, so the
    /// other chunks wait too instead of spending attempts on certain refusals.
    paused_until: Mutex<Option<Instant>>,
    pub retries: RetryCounts,
    pub kept: KeptCount,
    progress: Arc<Progress>,
    /// The body limit a `413` taught this run, and the server's message: a body over it is
    /// split, or its one record rejected, without sending it again, so a run leaves one
    /// failed call in the sync history, not one per chunk and half
    /// (`push_bodies::a_chunk_over_the_body_limit_is_split_until_it_fits`).
    body_limit: Mutex<Option<(usize, String)>>,
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<BulkData>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct BulkData {
    results: Vec<ResultItem>,
}

#[derive(Deserialize)]
struct ResultItem {
    index: usize,
    action: String,
    #[serde(default)]
    unchanged: bool,
    error: Option<String>,
    code: Option<String>,
    field: Option<String>,
    #[serde(flatten)]
    tree: Kept,
}

/// What a result and its nested results kept.
#[derive(Deserialize, Default)]
struct Kept {
    #[serde(default)]
    kept: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    parts: Vec<Kept>,
    #[serde(default)]
    operations: Vec<Kept>,
}

impl Kept {
    /// Records of this tree that kept anything.
    fn records(&self) -> u32 {
        let own = u32::from(!self.kept.is_empty());
        let nested = self.parts.iter().chain(&self.operations).map(Kept::records);
        own + nested.sum::<u32>()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

/// What a request finally got.
enum Answer {
    Done(Vec<Outcome>),
    TooLarge(String),
    /// The server refused the request as a whole; its records are rejected, others may pass.
    Refused(Outcome),
}

/// One try, judged.
enum Attempt {
    Answered(Answer),
    Retry {
        why: String,
        retry_after: Option<Duration>,
        rate_limited: bool,
    },
    /// An earlier attempt of this very request still holds its `Idempotency-Key` on the
    /// server: its answer comes once it is done.
    Running {
        why: String,
    },
    /// Nothing more can succeed: a refused key, a wrong URL.
    Fatal(String),
}

fn error_text(status: StatusCode, bytes: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Envelope>(bytes) {
        Ok(Envelope {
            error: Some(error), ..
        }) => (error.code, error.message),
        _ => (
            format!("HTTP_{}", status.as_u16()),
            String::from_utf8_lossy(bytes).chars().take(200).collect(),
        ),
    }
}

impl Client {
    pub fn new(
        base: &str,
        key: &str,
        dry_run: bool,
        policy: RetryPolicy,
        progress: Arc<Progress>,
    ) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("eryxon-push/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // Longer than the server's own request timeout, so a slow batch is answered 408
            // by the server rather than cut off here with its outcome unknown.
            .timeout(Duration::from_secs(180))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            dry_run,
            policy,
            paused_until: Mutex::new(None),
            retries: RetryCounts::default(),
            kept: KeptCount::default(),
            progress,
            body_limit: Mutex::new(None),
        })
    }

    /// Sends `rows` through bulk-sync and answers one outcome per row, in order. `Err` means
    /// the run cannot go on (refused key, wrong URL, server unreachable after every retry).
    pub async fn send(
        &self,
        entity: Entity,
        rows: &[Row],
        label: &str,
    ) -> Result<Vec<Outcome>, String> {
        let mut body = format!("{{\"{}\":[", entity.plural()).into_bytes();
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(row.json.as_bytes());
        }
        body.extend_from_slice(b"]}");
        let known = self.body_limit.lock().expect("not poisoned").clone();
        let answer = match known {
            Some((limit, message)) if body.len() > limit => Answer::TooLarge(message),
            _ => {
                let length = body.len();
                let answer = self.send_body(entity, body, rows.len(), label).await?;
                if let Answer::TooLarge(message) = &answer {
                    self.learn_body_limit(length, message);
                }
                answer
            }
        };
        match answer {
            Answer::Done(outcomes) => Ok(outcomes),
            Answer::Refused(outcome) => Ok(vec![outcome; rows.len()]),
            Answer::TooLarge(message) if rows.len() == 1 => Ok(vec![Outcome::Rejected {
                code: "PAYLOAD_TOO_LARGE".to_owned(),
                field: None,
                error: message,
            }]),
            Answer::TooLarge(_) => {
                // Halving always terminates: a single record is answered above.
                let (first, second) = rows.split_at(rows.len() / 2);
                let mut outcomes = Box::pin(self.send(entity, first, label)).await?;
                outcomes.extend(Box::pin(self.send(entity, second, label)).await?);
                Ok(outcomes)
            }
        }
    }

    /// Notes the body limit a `413` for a body of `length` bytes names ("larger than N
    /// bytes"), or else that `length` is over it.
    fn learn_body_limit(&self, length: usize, message: &str) {
        let named = message
            .split_once("larger than ")
            .and_then(|(_, rest)| rest.split_once(" bytes"))
            .and_then(|(limit, _)| limit.parse::<usize>().ok());
        let limit = named.unwrap_or(usize::MAX).min(length.saturating_sub(1));
        let mut known = self.body_limit.lock().expect("not poisoned");
        if known.as_ref().is_none_or(|(at, _)| limit < *at) {
            *known = Some((limit, message.to_owned()));
        }
    }

    async fn send_body(
        &self,
        entity: Entity,
        body: Vec<u8>,
        records: usize,
        label: &str,
    ) -> Result<Answer, String> {
        // Fixed across the retries of this request, so a server that honours it applies the
        // request at most once even when an answer was lost on the way back.
        let idempotency_key = Uuid::now_v7().to_string();
        let query = if self.dry_run { "?dry_run=true" } else { "" };
        let url = format!("{}/api-{}/bulk-sync{query}", self.base, entity.plural());
        let mut attempt = 1;
        // Since when the server has said an earlier attempt still runs. Waiting for it spends
        // no attempts, up to the time after which the server frees a key whose request
        // never answered (a restarted server frees it at once).
        let mut running_since: Option<Instant> = None;
        loop {
            self.wait_for_pause().await;
            let result = self
                .http
                .post(&url)
                .bearer_auth(&self.key)
                .header("content-type", "application/json")
                .header("idempotency-key", &idempotency_key)
                .body(body.clone())
                .send()
                .await;
            let judged = match result {
                Ok(response) => self.judge(response, records).await,
                Err(error) => Attempt::Retry {
                    why: error_chain(&error),
                    retry_after: None,
                    rate_limited: false,
                },
            };
            match judged {
                Attempt::Retry {
                    why,
                    retry_after,
                    rate_limited,
                } => {
                    if attempt >= self.policy.max_attempts {
                        return Err(format!("{label}: gave up after {attempt} attempts: {why}"));
                    }
                    let wait = self.policy.wait(attempt, retry_after);
                    let counter = if rate_limited {
                        self.pause_for(wait);
                        &self.retries.rate_limited
                    } else {
                        &self.retries.failed
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let told = match retry_after {
                        Some(after) if after > wait => {
                            format!(" (Retry-After {}s, capped)", after.as_secs())
                        }
                        Some(after) => format!(" (Retry-After {}s)", after.as_secs()),
                        None => String::new(),
                    };
                    self.progress.note(&format!(
                        "{label}: {why}; retrying in {:.1}s{told}, attempt {} of {}",
                        wait.as_secs_f64(),
                        attempt + 1,
                        self.policy.max_attempts
                    ));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Attempt::Running { why } => {
                    let since = *running_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RUNNING_PATIENCE {
                        return Err(format!("{label}: gave up after {attempt} attempts: {why}"));
                    }
                    self.progress.note(&format!(
                        "{label}: {why}; its earlier attempt still runs on the server, asking \
                         again in 1s"
                    ));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Attempt::Fatal(message) => return Err(format!("{label}: {message}")),
                Attempt::Answered(answer) => return Ok(answer),
            }
        }
    }

    fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    async fn wait_for_pause(&self) {
        let until = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    async fn judge(&self, response: reqwest::Response, records: usize) -> Attempt {
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => {
                return Attempt::Retry {
                    why: format!("reading the answer: {}", error_chain(&error)),
                    retry_after: None,
                    rate_limited: false,
                }
            }
        };
        if status.is_success() {
            return match parse_results(&bytes, records) {
                Ok((outcomes, kept)) => {
                    self.kept.0.fetch_add(kept, Ordering::Relaxed);
                    Attempt::Answered(Answer::Done(outcomes))
                }
                Err(problem) => Attempt::Fatal(format!(
                    "the server answered {status} with {problem}; is this an Eryxon Sync server?"
                )),
            };
        }
        let (code, message) = error_text(status, &bytes);
        match status {
            StatusCode::TOO_MANY_REQUESTS => Attempt::Retry {
                why: format!("{} {code}", status.as_u16()),
                retry_after,
                rate_limited: true,
            },
            StatusCode::REQUEST_TIMEOUT => Attempt::Retry {
                why: format!("{} {code}: {message}", status.as_u16()),
                retry_after,
                rate_limited: false,
            },
            s if s.is_server_error() => Attempt::Retry {
                why: format!("{} {code}: {message}", status.as_u16()),
                retry_after,
                rate_limited: false,
            },
            // An earlier attempt of this very request still runs on the server (its answer
            // was lost on the way back): its answer is replayed once it is done.
            StatusCode::CONFLICT if code == "IDEMPOTENCY_IN_PROGRESS" => Attempt::Running {
                why: format!("{} {code}: {message}", status.as_u16()),
            },
            StatusCode::PAYLOAD_TOO_LARGE => Attempt::Answered(Answer::TooLarge(message)),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Attempt::Fatal(format!(
                "the server refused the API key ({} {code}: {message})",
                status.as_u16()
            )),
            StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => Attempt::Fatal(format!(
                "{} {code}: {message}; is the URL an Eryxon Sync server?",
                status.as_u16()
            )),
            _ => Attempt::Answered(Answer::Refused(Outcome::Rejected {
                code,
                field: None,
                error: format!("the whole request was refused: {message}"),
            })),
        }
    }
}

/// The error with its causes, which is where reqwest says what actually failed.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The outcome of each record, and how many records (nested ones included) kept anything.
fn parse_results(bytes: &[u8], records: usize) -> Result<(Vec<Outcome>, u32), String> {
    let envelope: Envelope = serde_json::from_slice(bytes)
        .map_err(|e| format!("a body that is not a bulk result ({e})"))?;
    let data = envelope.data.ok_or("no `data`")?;
    if data.results.len() != records {
        return Err(format!(
            "{} results for {records} records",
            data.results.len()
        ));
    }
    let mut outcomes = vec![None; records];
    let mut kept = 0;
    for item in data.results {
        kept += item.tree.records();
        let outcome = match item.action.as_str() {
            "created" => Outcome::Created,
            "updated" if item.unchanged => Outcome::Unchanged,
            "updated" => Outcome::Updated,
            _ => Outcome::Rejected {
                code: item.code.unwrap_or_else(|| "ERROR".to_owned()),
                field: item.field,
                error: item.error.unwrap_or_else(|| item.action.clone()),
            },
        };
        let slot = outcomes
            .get_mut(item.index)
            .ok_or_else(|| format!("a result for record {} of {records}", item.index))?;
        *slot = Some(outcome);
    }
    let outcomes = outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.ok_or_else(|| format!("no result for record {i}")))
        .collect::<Result<_, _>>()?;
    Ok((outcomes, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_input_order_whatever_order_they_are_listed_in() {
        let body = br#"{"success":true,"data":{"results":[
            {"index":1,"external_id":"B","action":"error","error":"type: bad","code":"VALIDATION_ERROR","field":"type"},
            {"index":0,"external_id":"A","id":"x","action":"updated","unchanged":true},
            {"index":2,"external_id":"C","id":"y","action":"created"}]}}"#;
        let (outcomes, _) = parse_results(body, 3).unwrap();
        assert_eq!(outcomes[0], Outcome::Unchanged);
        assert_eq!(
            outcomes[1],
            Outcome::Rejected {
                code: "VALIDATION_ERROR".into(),
                field: Some("type".into()),
                error: "type: bad".into()
            }
        );
        assert_eq!(outcomes[2], Outcome::Created);
        assert!(parse_results(body, 4).is_err());
        assert!(parse_results(b"<html>", 1).is_err());
    }
}
