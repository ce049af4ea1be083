//! Scenarios. Each repetition writes records of its own, so every insert is a real insert.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use eryxon::domain::Entity;
use eryxon::store;
use serde_json::Value;

use crate::ceiling::{ceiling_write, Ceiling};
use crate::ceiling_events::events_write;
use crate::ceiling_packed::packed_write;
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

/// The event log a ceiling call writes in its transaction: none, a row per written row
/// (`ceiling_events.rs`), or one row per call (`ceiling_packed.rs`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Log {
    None,
    Events,
    Packed,
}

/// The same rows written by the ceiling statement: fresh, changed, then unchanged; with a
/// `log`, each call in a transaction that also appends the events of the rows it wrote.
pub async fn ceiling_flat_rep(
    raw: &mut Raw,
    engine: Engine,
    sql: &Ceiling,
    tenant: &str,
    prefix: &str,
    log: Log,
) -> Result<[Duration; 3]> {
    let (fresh, changed) = (flat_jobs(prefix, 0), flat_jobs(prefix, 1));
    let mut took = [Duration::ZERO; 3];
    for (k, (slot, (rows, writes))) in took
        .iter_mut()
        .zip([(&fresh, 1000), (&changed, 1000), (&changed, 0)])
        .enumerate()
    {
        let start = Instant::now();
        if log != Log::None {
            raw.execute("BEGIN", &[]).await?;
        }
        let written = ceiling_write(raw, engine, Entity::Jobs, &sql.jobs, tenant, rows).await?;
        if log != Log::None {
            if written > 0 {
                let now = store::timestamp();
                if log == Log::Events {
                    events_write(raw, engine, Entity::Jobs, tenant, rows, k == 1, &now).await?;
                } else {
                    let written = [(Entity::Jobs, rows.as_slice())];
                    packed_write(raw, engine, tenant, &written, k == 1, &now).await?;
                }
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

/// Insert and update times of the ceiling with each kind of event log.
pub type Logged = [[Vec<Duration>; 2]; 2];

/// The flat figures over HTTP, at the ceiling, and at the ceiling with events and with packed
/// events (insert and update; an unchanged re-send writes no event), alternating.
pub async fn flat_and_ceiling(
    api: &Api,
    ceiling: &mut CeilingDb,
    mut with_logs: [&mut CeilingDb; 2],
    engine: Engine,
    knobs: &Knobs,
) -> Result<(Pair<3>, Logged)> {
    let sql = Ceiling::new(engine);
    let mut logged: Logged = Default::default();
    let pair = alternating(
        knobs,
        async |rep| http_flat_rep(api, &format!("F{rep}")).await,
        async |rep| {
            let prefix = format!("C{rep}");
            let (raw, tenant) = (&mut ceiling.raw, &ceiling.tenant);
            let plain = ceiling_flat_rep(raw, engine, &sql, tenant, &prefix, Log::None).await?;
            for ((db, log), slots) in with_logs
                .iter_mut()
                .zip([Log::Events, Log::Packed])
                .zip(&mut logged)
            {
                let (raw, tenant) = (&mut db.raw, &db.tenant);
                let [insert, update, _] =
                    ceiling_flat_rep(raw, engine, &sql, tenant, &prefix, log).await?;
                if rep >= knobs.warmup {
                    push_each(slots, [insert, update]);
                }
            }
            Ok(plain)
        },
    )
    .await?;
    Ok((pair, logged))
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
    log: Log,
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
            if log == Log::Events {
                let now = store::timestamp();
                events_write(raw, engine, entity, tenant, rows, rev == 1, &now).await?;
            }
        }
        if log == Log::Packed {
            let now = store::timestamp();
            let written = [
                (Entity::Jobs, jobs.as_slice()),
                (Entity::Parts, parts.as_slice()),
                (Entity::Operations, operations.as_slice()),
            ];
            packed_write(raw, engine, tenant, &written, rev == 1, &now).await?;
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

/// The nested figures over HTTP, at the ceiling and at the ceiling with each event log,
/// alternating like the flat ones.
pub async fn nested_and_ceiling(
    api: &Api,
    ceiling: &mut CeilingDb,
    mut with_logs: [&mut CeilingDb; 2],
    engine: Engine,
    knobs: &Knobs,
) -> Result<(Pair<2>, Logged)> {
    let sql = Ceiling::new(engine);
    let mut logged: Logged = Default::default();
    let pair = alternating(
        knobs,
        async |rep| http_nested_rep(api, &format!("N{rep}")).await,
        async |rep| {
            let prefix = format!("NC{rep}");
            let (raw, tenant) = (&mut ceiling.raw, &ceiling.tenant);
            let plain = ceiling_nested_rep(raw, engine, &sql, tenant, &prefix, Log::None).await?;
            for ((db, log), slots) in with_logs
                .iter_mut()
                .zip([Log::Events, Log::Packed])
                .zip(&mut logged)
            {
                let (raw, tenant) = (&mut db.raw, &db.tenant);
                let took = ceiling_nested_rep(raw, engine, &sql, tenant, &prefix, log).await?;
                if rep >= knobs.warmup {
                    push_each(slots, took);
                }
            }
            Ok(plain)
        },
    )
    .await?;
    Ok((pair, logged))
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
