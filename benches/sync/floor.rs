//! The shop floor and the event feed over HTTP: lifecycle actions, and reading the feed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use crate::http::{expect, Api};
use crate::records::{nested_body, nested_jobs};

/// Events a page of the feed holds: the largest `limit` the feed takes.
pub const PAGE: usize = 1000;
/// Operations started and completed per lifecycle repetition: 2 actions each.
pub const LIFECYCLE_OPERATIONS: usize = 1000;
/// Nested calls of 1000 jobs × 2 parts × 3 operations that fill the floor's database: 9001
/// events each (one per record and one `sync.completed`).
pub const MIN_FILL_CALLS: usize = 3;

/// The fill's nested jobs as the ERP sends them before the floor has started any: every
/// record `not_started`, so that each operation can be started, then completed.
fn not_started(mut value: Value) -> Value {
    match &mut value {
        Value::Object(object) => {
            if object.contains_key("status") {
                object.insert("status".into(), "not_started".into());
            }
            for child in object.values_mut() {
                *child = not_started(child.take());
            }
        }
        Value::Array(items) => {
            for item in items.iter_mut() {
                *item = not_started(item.take());
            }
        }
        _ => {}
    }
    value
}

/// Fills the database with `calls` nested syncs; answers the new operations' ids.
pub async fn fill_floor(api: &Api, calls: usize) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for call in 0..calls {
        let body: Value =
            serde_json::from_slice(&nested_body(&nested_jobs(&format!("FL{call}"), 0)))?;
        let answer = api
            .bulk("jobs", serde_json::to_vec(&not_started(body))?)
            .await?;
        expect(&answer, 1000, 0, 0)?;
        let answer: Value = serde_json::from_slice(&answer.body)?;
        let results = answer["data"]["results"]
            .as_array()
            .context("bulk results")?;
        for job in results {
            for part in job["parts"].as_array().context("parts in a result")? {
                for operation in part["operations"].as_array().context("operations")? {
                    ids.push(operation["id"].as_str().context("an id")?.to_owned());
                }
            }
        }
    }
    Ok(ids)
}

#[derive(Deserialize)]
struct FeedAnswer {
    data: FeedPage,
}

#[derive(Deserialize)]
struct FeedPage {
    events: Vec<IgnoredAny>,
    next_cursor: String,
    has_more: bool,
}

/// Reads the whole feed from its oldest event in pages of [`PAGE`], following `next_cursor`
/// as a reader does: the time from the first request to the last page's answer, and how many
/// events it read.
pub async fn read_feed(api: &Api) -> Result<(Duration, usize)> {
    let start = Instant::now();
    let mut after: Option<String> = None;
    let mut read = 0;
    loop {
        let path = match &after {
            None => format!("/api-events?limit={PAGE}"),
            Some(cursor) => format!("/api-events?limit={PAGE}&after={cursor}"),
        };
        let answer = api
            .send(api.request(reqwest::Method::GET, &path, Vec::new())?)
            .await?;
        ensure!(
            answer.status == 200,
            "the feed answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
        );
        let page: FeedAnswer = serde_json::from_slice(&answer.body)?;
        read += page.data.events.len();
        if !page.data.has_more {
            break;
        }
        after = Some(page.data.next_cursor);
    }
    Ok((start.elapsed(), read))
}

/// Starts, then completes, each operation of `ids` by `POST /api-operation-lifecycle/…?id=`
/// with an operator in the body, `concurrency` operations in flight: the total time and every action's latency.
pub async fn lifecycle_pairs(
    api: &Api,
    ids: &[String],
    concurrency: usize,
) -> Result<(Duration, Vec<Duration>)> {
    let requests = ids
        .iter()
        .map(|id| {
            let request = |action: &str| {
                api.request(
                    reqwest::Method::POST,
                    &format!("/api-operation-lifecycle/{action}?id={id}"),
                    br#"{"operator":"Bench Operator"}"#.to_vec(),
                )
            };
            Ok((request("start")?, request("complete")?))
        })
        .collect::<Result<Vec<_>>>()?;
    let queue = Arc::new(std::sync::Mutex::new(requests.into_iter()));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (api, queue) = (api.clone(), queue.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((start, complete)) = next else { break };
                    for request in [start, complete] {
                        let answer = api.send(request).await?;
                        ensure!(
                            answer.status == 200,
                            "a lifecycle action answered {}: {}",
                            answer.status,
                            String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
                        );
                        latencies.push(answer.took);
                    }
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(2 * ids.len());
    for worker in workers {
        latencies.extend(worker.await??);
    }
    Ok((start.elapsed(), latencies))
}
