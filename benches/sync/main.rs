//! Sync throughput over real HTTP, against the engine's own ceiling and a naive baseline.
//!
//! `cargo bench --bench sync` runs SQLite; `./scripts/with-postgres.sh cargo bench --bench sync`
//! runs SQLite and PostgreSQL. See docs/performance.md for the figures and the knobs.

mod baseline;
mod ceiling;
mod ceiling_events;
mod ceiling_packed;
mod floor;
mod http;
mod knobs;
mod load;
mod raw;
mod records;
mod report;
mod scenarios;
mod servers;
mod webhooks;

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use eryxon::domain::Entity;
use eryxon::store;

use crate::baseline::{baseline_flat_runs, baseline_nested_runs};
use crate::floor::{fill_floor, lifecycle_pairs, read_feed, LIFECYCLE_OPERATIONS, MIN_FILL_CALLS};
use crate::http::{expect, Api};
use crate::knobs::{Engine, Knobs};
use crate::load::{fill, load_once, load_plan, Load};
use crate::raw::Raw;
use crate::records::{cell, flat_body, Row, MAIN_CELLS};
use crate::report::{median, ms, per_call, Figure, Report};
use crate::scenarios::{
    alternating, flat_and_ceiling, http_flat_rep, http_puts, nested_and_ceiling, reps_of,
};
use crate::servers::{drop_db, fresh_db, key_and_tenant, CeilingDb, Server};

const SOURCE: &str = "SAP";
const TENANT: &str = "bench";
const BATCH: usize = 1000;
/// A rate limit no benchmark reaches: the limiter still runs, it never refuses.
const RATE_LIMIT: u32 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// One engine

fn progress(engine: Engine, what: &str) {
    eprintln!("[{}] {what}", engine.name());
}

/// Other work on the machine skews every figure; the load average says how much there was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

async fn run_engine(engine: Engine, knobs: &Knobs, report: &mut Report) -> Result<()> {
    let dir = tempfile::TempDir::new()?;
    let started = Instant::now();
    println!("load average at start: {}", loadavg());
    let mut figures = Vec::new();
    let figure = |bench: &str, records: usize, samples: &[Duration]| {
        per_call(engine, bench, records, samples)
    };

    // Everything but the ceiling, the big table and the initial load shares one database,
    // written in this order, so the flat HTTP figures meet a table of at most a few thousand rows.
    let db = fresh_db(engine, dir.path(), "main").await?;
    let store = store::open(&db.url).await?;
    let mut raw = Raw::open(engine, &db.url).await?;
    let version_sql = match engine {
        Engine::Sqlite => "SELECT 'SQLite ' || sqlite_version()",
        Engine::Postgres => "SELECT version()",
    };
    if let Some(version) = raw.text(version_sql, &[]).await? {
        progress(engine, &version);
    }
    let (key, tenant) = key_and_tenant(&*store, &mut raw, engine).await?;
    let server = Server::start(store.clone()).await?;
    let api = Api::new(&server.base, &key);
    let cells: Vec<Row> = (0..MAIN_CELLS).map(cell).collect();
    expect(
        &api.bulk("cells", flat_body(Entity::Cells, &cells)).await?,
        MAIN_CELLS as u64,
        0,
        0,
    )?;
    // The ceiling, and the ceiling with each event log, write databases of their own.
    let mut ceiling = CeilingDb::new(engine, dir.path(), "ceiling", &cells).await?;
    let mut ceiling_events = CeilingDb::new(engine, dir.path(), "ceiling_events", &cells).await?;
    let mut ceiling_packed = CeilingDb::new(engine, dir.path(), "ceiling_packed", &cells).await?;

    if knobs.runs("flat") {
        progress(engine, "flat 1000 over HTTP and at the ceiling");
        let logs = [&mut ceiling_events, &mut ceiling_packed];
        let ((http, ceiling), logged) =
            flat_and_ceiling(&api, &mut ceiling, logs, engine, knobs).await?;
        let [insert, update, resend] = http;
        figures.push(figure("flat_insert", BATCH, &insert));
        figures.push(figure("flat_update", BATCH, &update));
        figures.push(figure("flat_unchanged", BATCH, &resend));
        let [insert, update, resend] = ceiling;
        figures.push(figure("ceiling/flat_insert", BATCH, &insert));
        figures.push(figure("ceiling/flat_update", BATCH, &update));
        figures.push(figure("ceiling/flat_unchanged", BATCH, &resend));
        for (log, [insert, update]) in ["ceiling_events", "ceiling_packed"].iter().zip(&logged) {
            figures.push(figure(&format!("{log}/flat_insert"), BATCH, insert));
            figures.push(figure(&format!("{log}/flat_update"), BATCH, update));
        }

        progress(engine, "flat 1000 baseline");
        let [insert, update, resend] = baseline_flat_runs(&mut raw, engine, &tenant, knobs).await?;
        figures.push(figure("baseline/flat_insert", BATCH, &insert));
        figures.push(figure("baseline/flat_update", BATCH, &update));
        figures.push(figure("baseline/flat_unchanged", BATCH, &resend));
    }

    if knobs.runs("nested") {
        progress(engine, "nested 9000 over HTTP and at the ceiling");
        let logs = [&mut ceiling_events, &mut ceiling_packed];
        let ((http, ceiling), logged) =
            nested_and_ceiling(&api, &mut ceiling, logs, engine, knobs).await?;
        let [insert, update] = http;
        figures.push(figure("nested_insert", 9 * BATCH, &insert));
        figures.push(figure("nested_update", 9 * BATCH, &update));
        let [insert, update] = ceiling;
        figures.push(figure("ceiling/nested_insert", 9 * BATCH, &insert));
        figures.push(figure("ceiling/nested_update", 9 * BATCH, &update));
        for (log, [insert, update]) in ["ceiling_events", "ceiling_packed"].iter().zip(&logged) {
            figures.push(figure(&format!("{log}/nested_insert"), 9 * BATCH, insert));
            figures.push(figure(&format!("{log}/nested_update"), 9 * BATCH, update));
        }

        progress(engine, "nested 9000 baseline");
        let [insert, update] = baseline_nested_runs(&mut raw, engine, &tenant, knobs).await?;
        figures.push(figure("baseline/nested_insert", 9 * BATCH, &insert));
        figures.push(figure("baseline/nested_update", 9 * BATCH, &update));
    }

    let concurrencies: &[usize] = if knobs.runs("put") { &[1, 8] } else { &[] };
    for &concurrency in concurrencies {
        progress(engine, &format!("single PUT, concurrency {concurrency}"));
        let mut rates = Vec::new();
        let mut latencies = Vec::new();
        for (rep, measured) in reps_of(knobs, knobs.reps) {
            let prefix = format!("P{concurrency}-{rep}");
            let (took, each) = http_puts(&api, &prefix, concurrency, knobs.puts).await?;
            if measured {
                rates.push(knobs.puts as f64 / took.as_secs_f64());
                latencies.extend(each);
            }
        }
        rates.sort_by(f64::total_cmp);
        figures.push(Figure {
            engine,
            bench: format!("put_c{concurrency}"),
            records: 1,
            p50_ms: ms(median(&latencies)),
            records_per_s: rates[rates.len() / 2],
            ratio_to_ceiling: None,
            ratio_to_baseline: None,
            ratio_to_ceiling_events: None,
            p99_ms: None,
        });
    }
    drop(api);
    server.stop().await?;
    drop((raw, store));
    drop_db(&db).await?;
    ceiling.drop().await?;
    ceiling_events.drop().await?;
    ceiling_packed.drop().await?;

    if knobs.runs("feed") || knobs.runs("lifecycle") {
        floor_figures(engine, dir.path(), knobs, &mut figures).await?;
    }

    if knobs.runs("webhooks") {
        progress(engine, "webhooks: deliveries to one receiver on 127.0.0.1");
        webhooks::webhook_figures(engine, dir.path(), knobs, &mut figures).await?;
    }

    let mut loads = Vec::new();
    let mut peaks = Vec::new();
    let load_reps = if knobs.runs("load") {
        knobs.load_reps
    } else {
        0
    };
    let load = if load_reps > 0 {
        progress(
            engine,
            "100k initial load (eryxon serve child process, 2 clients)",
        );
        load_plan()
    } else {
        Load {
            levels: Vec::new(),
            records: 0,
        }
    };
    for (rep, measured) in reps_of(knobs, load_reps).filter(|_| load_reps > 0) {
        let (took, peak_kb, cpu) = load_once(engine, dir.path(), rep, &load).await?;
        progress(
            engine,
            &format!(
                "  load {rep}: {:.2} s, peak RSS {} MB, server CPU: {cpu}",
                took.as_secs_f64(),
                peak_kb / 1024
            ),
        );
        if measured {
            loads.push(took);
            peaks.push(peak_kb);
        }
    }
    let mut load_s = None;
    if !loads.is_empty() {
        let load_figure = per_call(engine, "load_100k", load.records, &loads);
        load_s = Some(load_figure.p50_ms / 1000.0);
        figures.push(load_figure);
    }
    let peak_mb = peaks.iter().max().map(|kb| *kb as f64 / 1024.0);

    if knobs.big_rows > 0 && knobs.runs("big") {
        progress(
            engine,
            &format!("big table: filling {} jobs", knobs.big_rows),
        );
        let db = fresh_db(engine, dir.path(), "big").await?;
        let store = store::open(&db.url).await?;
        let mut raw = Raw::open(engine, &db.url).await?;
        let (key, tenant) = key_and_tenant(&*store, &mut raw, engine).await?;
        let start = Instant::now();
        let filled = fill(&mut raw, engine, &tenant, knobs.big_rows).await?;
        ensure!(filled == knobs.big_rows, "filled {filled} rows");
        progress(
            engine,
            &format!("  filled in {:.1} s", start.elapsed().as_secs_f64()),
        );
        let server = Server::start(store.clone()).await?;
        let api = Api::new(&server.base, &key);
        // The empty table it is compared with is measured beside it, repetitions alternating,
        // so that both meet the machine in the same state (the flat group ran minutes before).
        let empty_db = fresh_db(engine, dir.path(), "empty").await?;
        let empty_store = store::open(&empty_db.url).await?;
        let mut empty_raw = Raw::open(engine, &empty_db.url).await?;
        let (empty_key, _) = key_and_tenant(&*empty_store, &mut empty_raw, engine).await?;
        let empty_server = Server::start(empty_store.clone()).await?;
        let empty_api = Api::new(&empty_server.base, &empty_key);
        progress(
            engine,
            "flat 1000 over HTTP at the big and at an empty table",
        );
        let (big, empty) = alternating(
            knobs,
            async |rep| http_flat_rep(&api, &format!("G{rep}")).await,
            async |rep| http_flat_rep(&empty_api, &format!("E{rep}")).await,
        )
        .await?;
        for (variant, (big, empty)) in ["flat_insert", "flat_update", "flat_unchanged"]
            .into_iter()
            .zip(big.iter().zip(&empty))
        {
            figures.push(figure(&format!("big/{variant}"), BATCH, big));
            figures.push(figure(&format!("empty/{variant}"), BATCH, empty));
        }
        drop((api, empty_api));
        server.stop().await?;
        empty_server.stop().await?;
        drop((raw, empty_raw));
        drop((store, empty_store));
        drop_db(&db).await?;
        drop_db(&empty_db).await?;
    }

    progress(
        engine,
        &format!("done in {:.0} s", started.elapsed().as_secs_f64()),
    );
    println!("load average at end: {}", loadavg());
    report.figures.extend(figures);
    report.link_ratios();
    report.judge(engine, load_s, peak_mb);
    report.print(engine);
    Ok(())
}

/// The event feed and the floor's lifecycle actions, on a database of their own filled by
/// nested syncs (which write one event per record): reading the whole feed in pages of 1000,
/// then start + complete pairs on distinct operations, 8 in flight.
async fn floor_figures(
    engine: Engine,
    dir: &std::path::Path,
    knobs: &Knobs,
    figures: &mut Vec<Figure>,
) -> Result<()> {
    let db = fresh_db(engine, dir, "floor").await?;
    let store = store::open(&db.url).await?;
    let mut raw = Raw::open(engine, &db.url).await?;
    let (key, _) = key_and_tenant(&*store, &mut raw, engine).await?;
    let server = Server::start(store.clone()).await?;
    let api = Api::new(&server.base, &key);
    let cells: Vec<Row> = (0..MAIN_CELLS).map(cell).collect();
    expect(
        &api.bulk("cells", flat_body(Entity::Cells, &cells)).await?,
        MAIN_CELLS as u64,
        0,
        0,
    )?;
    let lifecycle_reps = knobs.warmup + knobs.reps;
    let calls = MIN_FILL_CALLS.max((lifecycle_reps * LIFECYCLE_OPERATIONS).div_ceil(6 * BATCH));
    progress(
        engine,
        &format!("floor: filling {calls} nested calls of 9000 records"),
    );
    let operations = fill_floor(&api, calls).await?;

    if knobs.runs("feed") {
        progress(engine, "event feed, pages of 1000 over HTTP");
        let mut samples = Vec::new();
        let mut events = 0;
        for (_, measured) in reps_of(knobs, knobs.reps) {
            let (took, read) = read_feed(&api).await?;
            ensure!(
                read >= 20_000 && (events == 0 || read == events),
                "the feed read {read} events"
            );
            events = read;
            if measured {
                samples.push(took);
            }
        }
        figures.push(per_call(engine, "feed_read", events, &samples));
    }

    if knobs.runs("lifecycle") {
        progress(engine, "lifecycle: start + complete, 8 in flight");
        let mut rates = Vec::new();
        let mut latencies = Vec::new();
        for ((rep, measured), ids) in
            reps_of(knobs, knobs.reps).zip(operations.chunks_exact(LIFECYCLE_OPERATIONS))
        {
            let (took, each) = lifecycle_pairs(&api, ids, 8).await?;
            ensure!(
                each.len() == 2 * ids.len(),
                "rep {rep}: {} actions",
                each.len()
            );
            if measured {
                rates.push(each.len() as f64 / took.as_secs_f64());
                latencies.extend(each);
            }
        }
        rates.sort_by(f64::total_cmp);
        figures.push(Figure {
            engine,
            bench: "lifecycle".into(),
            records: 1,
            p50_ms: ms(median(&latencies)),
            records_per_s: rates[rates.len() / 2],
            ratio_to_ceiling: None,
            ratio_to_baseline: None,
            ratio_to_ceiling_events: None,
            p99_ms: None,
        });
    }
    drop(api);
    server.stop().await?;
    drop(raw);
    drop(store);
    drop_db(&db).await?;
    Ok(())
}

fn main() -> Result<()> {
    // `cargo test --all-targets` also runs bench targets, without `--bench`: measure nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("sync bench: run it with `cargo bench --bench sync`");
        return Ok(());
    }
    let knobs = Knobs::from_env()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        eprintln!(
            "sync bench: {} warm-up + {} repetitions ({} for the baseline, {} for the load), \
             big table {} rows, {} PUTs per run",
            knobs.warmup,
            knobs.reps,
            knobs.baseline_reps,
            knobs.load_reps,
            knobs.big_rows,
            knobs.puts
        );
        let mut report = Report {
            figures: Vec::new(),
            targets: Vec::new(),
        };
        for engine in &knobs.engines {
            println!("\n== {} ==", engine.name());
            run_engine(*engine, &knobs, &mut report).await?;
        }
        println!();
        report.print_json();
        Ok(())
    })
}
