//! Scenarios. Each repetition writes records of its own, so every insert is a real insert.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use eryxon::domain::Entity;
use eryxon::store;
use serde_json::Value;

use crate::ceiling::{ceiling_write, Ceiling};
use crate::ceiling_events::events_write;
use crate::http::{expect, Api};
use crate::knobs::{Engine, Knobs};
use crate::raw::Raw;
use crate::records::{flat_body, flat_jobs, job, levels, nested_body, nested_jobs, record_json};
use crate::servers::CeilingDb;

pub fn reps_of(knobs: &Knobs, reps: usize) -> impl Iterator<Item = (usize, bool)> + use<> {
    let warmup = knobs.warmup;
    (0..warmup + reps).map(move |rep| (rep, rep >= warmup))
}

pub type Three = [Vec<Duration>; 3];

/// Fresh inserts, all-changed updates, unchanged re-sends of 1000 flat jobs over HTTP: one
/// repetition, under keys starting with `prefix`.
pub async fn http_flat_rep(api: &Api, prefix: &str) -> Result<[Duration; 3]> {
    let changed = flat_body(Entity::Jobs, &flat_jobs(prefix, 1));
    let insert = api
        .bulk("jobs", flat_body(Entity::Jobs, &flat_jobs(prefix, 0)))
        .await?;
    expect(&insert, 1000, 0, 0)?;
    let update = api.bulk("jobs", changed.clone()).await?;
    expect(&update, 0, 1000, 0)?;
    let resend = api.bulk("jobs", changed).await?;
    expect(&resend, 0, 1000, 1000)?;
    Ok([insert.took, update.took, resend.took])
}

pub fn push_each<const N: usize>(slots: &mut [Vec<Duration>; N], took: [Duration; N]) {
    for (slot, took) in slots.iter_mut().zip(took) {
        slot.push(took);
    }
}

/// The same rows written by the ceiling statement: fresh, changed, then unchanged; with
/// `events`, each call in a transaction that also appends an event per written row.
pub async fn ceiling_flat_rep(
    raw: &mut Raw,
    engine: Engine,
    sql: &Ceiling,
    tenant: &str,
    prefix: &str,
    events: bool,
) -> Result<[Duration; 3]> {
    let (fresh, changed) = (flat_jobs(prefix, 0), flat_jobs(prefix, 1));
    let mut took = [Duration::ZERO; 3];
    for (k, (slot, (rows, writes))) in took
        .iter_mut()
        .zip([(&fresh, 1000), (&changed, 1000), (&changed, 0)])
        .enumerate()
    {
        let start = Instant::now();
        if events {
            raw.execute("BEGIN", &[]).await?;
        }
        let written = ceiling_write(raw, engine, Entity::Jobs, &sql.jobs, tenant, rows).await?;
        if events {
            if written > 0 {
                let now = store::timestamp();
                events_write(raw, engine, Entity::Jobs, tenant, rows, k == 1, &now).await?;
            }
            raw.execute("COMMIT", &[]).await?;
        }
        *slot = start.elapsed();
        ensure!(
            written == writes,
            "ceiling wrote {written} rows, not {writes}"
        );
    }
    Ok(took)
}

pub type Pair<const N: usize> = ([Vec<Duration>; N], [Vec<Duration>; N]);

/// Two sides of a comparison, measured repetition by repetition in turn, so that a slow spell of
/// the shared machine weighs on both alike. Each side is given the repetition's number.
pub async fn alternating<const N: usize>(
    knobs: &Knobs,
    mut first: impl AsyncFnMut(usize) -> Result<[Duration; N]>,
    mut second: impl AsyncFnMut(usize) -> Result<[Duration; N]>,
) -> Result<Pair<N>> {
    let mut out: Pair<N> = (
        std::array::from_fn(|_| Vec::new()),
        std::array::from_fn(|_| Vec::new()),
    );
    for (rep, measured) in reps_of(knobs, knobs.reps) {
        let one = first(rep).await?;
        let other = second(rep).await?;
        if measured {
            push_each(&mut out.0, one);
            push_each(&mut out.1, other);
        }
    }
    Ok(out)
}

/// The flat figures over HTTP, at the ceiling and at the ceiling with events (insert and
/// update; an unchanged re-send writes no event), alternating.
pub async fn flat_and_ceiling(
    api: &Api,
    ceiling: &mut CeilingDb,
    with_log: &mut CeilingDb,
    engine: Engine,
    knobs: &Knobs,
) -> Result<(Pair<3>, [Vec<Duration>; 2])> {
    let sql = Ceiling::new(engine);
    let mut with_events: [Vec<Duration>; 2] = Default::default();
    let pair = alternating(
        knobs,
        async |rep| http_flat_rep(api, &format!("F{rep}")).await,
        async |rep| {
            let prefix = format!("C{rep}");
            let (raw, tenant) = (&mut ceiling.raw, &ceiling.tenant);
            let plain = ceiling_flat_rep(raw, engine, &sql, tenant, &prefix, false).await?;
            let (raw, tenant) = (&mut with_log.raw, &with_log.tenant);
            let [insert, update, _] =
                ceiling_flat_rep(raw, engine, &sql, tenant, &prefix, true).await?;
            if rep >= knobs.warmup {
                push_each(&mut with_events, [insert, update]);
            }
            Ok(plain)
        },
    )
    .await?;
    Ok((pair, with_events))
}

/// 1000 nested jobs over HTTP, inserted then changed: one repetition.
pub async fn http_nested_rep(api: &Api, prefix: &str) -> Result<[Duration; 2]> {
    let changed = nested_body(&nested_jobs(prefix, 1));
    let insert = api
        .bulk("jobs", nested_body(&nested_jobs(prefix, 0)))
        .await?;
    expect(&insert, 1000, 0, 0)?;
    let update = api.bulk("jobs", changed).await?;
    expect(&update, 0, 1000, 0)?;
    Ok([insert.took, update.took])
}

/// The same nested rows by the ceiling statements, one transaction per call.
pub async fn ceiling_nested_rep(
    raw: &mut Raw,
    engine: Engine,
    sql: &Ceiling,
    tenant: &str,
    prefix: &str,
    events: bool,
) -> Result<[Duration; 2]> {
    let mut took = [Duration::ZERO; 2];
    for (slot, rev) in took.iter_mut().zip([0, 1]) {
        let (jobs, parts, operations) = levels(&nested_jobs(prefix, rev));
        let start = Instant::now();
        raw.execute("BEGIN", &[]).await?;
        let mut written = 0;
        for (entity, sql, rows) in [
            (Entity::Jobs, &sql.jobs, &jobs),
            (Entity::Parts, &sql.parts, &parts),
            (Entity::Operations, &sql.operations, &operations),
        ] {
            written += ceiling_write(raw, engine, entity, sql, tenant, rows).await?;
            if events {
                let now = store::timestamp();
                events_write(raw, engine, entity, tenant, rows, rev == 1, &now).await?;
            }
        }
        raw.execute("COMMIT", &[]).await?;
        *slot = start.elapsed();
        ensure!(
            written == 9000,
            "ceiling wrote {written} nested rows, not 9000"
        );
    }
    Ok(took)
}

/// The nested figures over HTTP, at the ceiling and at the ceiling with events, alternating
/// like the flat ones.
pub async fn nested_and_ceiling(
    api: &Api,
    ceiling: &mut CeilingDb,
    with_log: &mut CeilingDb,
    engine: Engine,
    knobs: &Knobs,
) -> Result<(Pair<2>, [Vec<Duration>; 2])> {
    let sql = Ceiling::new(engine);
    let mut with_events: [Vec<Duration>; 2] = Default::default();
    let pair = alternating(
        knobs,
        async |rep| http_nested_rep(api, &format!("N{rep}")).await,
        async |rep| {
            let prefix = format!("NC{rep}");
            let (raw, tenant) = (&mut ceiling.raw, &ceiling.tenant);
            let plain = ceiling_nested_rep(raw, engine, &sql, tenant, &prefix, false).await?;
            let (raw, tenant) = (&mut with_log.raw, &with_log.tenant);
            let events = ceiling_nested_rep(raw, engine, &sql, tenant, &prefix, true).await?;
            if rep >= knobs.warmup {
                push_each(&mut with_events, events);
            }
            Ok(plain)
        },
    )
    .await?;
    Ok((pair, with_events))
}

/// `n` single-job PUTs (each a new job) from `concurrency` clients: total time and latencies.
pub async fn http_puts(
    api: &Api,
    prefix: &str,
    concurrency: usize,
    n: usize,
) -> Result<(Duration, Vec<Duration>)> {
    let requests = (0..n)
        .map(|i| {
            let body = Value::Object(record_json(&job(prefix, i, 0), true));
            api.request(
                reqwest::Method::PUT,
                "/api-jobs/sync",
                serde_json::to_vec(&body)?,
            )
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
                    let Some(request) = next else { break };
                    let answer = api.send(request).await?;
                    ensure!(answer.status == 201, "PUT answered {}", answer.status);
                    latencies.push(answer.took);
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    Ok((start.elapsed(), latencies))
}
