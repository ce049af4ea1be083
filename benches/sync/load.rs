//! The 100k initial load, and the fill of the big table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use eryxon::domain::Entity;
use eryxon::store;

use crate::http::{expect, Api};
use crate::knobs::Engine;
use crate::raw::{Arg, Raw};
use crate::records::{cell, flat_body, job, operation, part, resource, Row};
use crate::servers::{drop_db, fresh_db, key_and_tenant, ChildServer};
use crate::BATCH;

/// One bulk body and how many records it carries.
pub type Call = (Vec<u8>, u64);

/// The initial load: each level's bulk bodies, sent in dependency order.
pub struct Load {
    pub levels: Vec<(&'static str, Vec<Call>)>,
    pub records: usize,
}

pub const LOAD_CELLS: usize = 100;
pub const LOAD_RESOURCES: usize = 900;
pub const LOAD_JOBS: usize = 9000;

/// 100 cells, 900 resources, 9000 jobs, 27 000 parts (3 per job) and 63 000 operations (3 on a
/// job's first part, 2 on the others): 100 000 records.
pub fn load_plan() -> Load {
    let cells: Vec<Row> = (0..LOAD_CELLS).map(cell).collect();
    let resources: Vec<Row> = (0..LOAD_RESOURCES).map(resource).collect();
    let mut jobs = Vec::new();
    let mut parts = Vec::new();
    let mut operations = Vec::new();
    for i in 0..LOAD_JOBS {
        let job = job("L", i, 0);
        for j in 0..3 {
            let part = part(&job.ext, i, j, 0);
            let steps = if j == 0 { 3 } else { 2 };
            operations.extend((0..steps).map(|k| operation(&part.ext, i, k, 0, LOAD_CELLS)));
            parts.push(part);
        }
        jobs.push(job);
    }
    let level = |entity: Entity, rows: &[Row]| -> Vec<Call> {
        rows.chunks(BATCH)
            .map(|chunk| (flat_body(entity, chunk), chunk.len() as u64))
            .collect()
    };
    let records = cells.len() + resources.len() + jobs.len() + parts.len() + operations.len();
    Load {
        levels: vec![
            ("cells", level(Entity::Cells, &cells)),
            ("resources", level(Entity::Resources, &resources)),
            ("jobs", level(Entity::Jobs, &jobs)),
            ("parts", level(Entity::Parts, &parts)),
            ("operations", level(Entity::Operations, &operations)),
        ],
        records,
    }
}

/// Two clients share each level's calls; a level starts when the one before it is written.
pub async fn run_load(clients: [&Api; 2], load: &Load) -> Result<Duration> {
    let mut prepared = Vec::new();
    for (entity, bodies) in &load.levels {
        let requests = bodies
            .iter()
            .map(|(body, n)| {
                let request = clients[0].request(
                    reqwest::Method::POST,
                    &format!("/api-{entity}/bulk-sync"),
                    body.clone(),
                )?;
                Ok((request, *n))
            })
            .collect::<Result<Vec<_>>>()?;
        prepared.push(requests);
    }
    let mut answers = Vec::new();
    let start = Instant::now();
    for requests in prepared {
        let queue = Arc::new(std::sync::Mutex::new(requests.into_iter()));
        let workers: Vec<_> = clients
            .iter()
            .map(|api| {
                let (api, queue) = ((*api).clone(), queue.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                        let Some((request, n)) = next else { break };
                        answers.push((api.send(request).await?, n));
                    }
                    Ok::<_, anyhow::Error>(answers)
                })
            })
            .collect();
        for worker in workers {
            answers.extend(worker.await??);
        }
    }
    let took = start.elapsed();
    for (answer, n) in &answers {
        expect(answer, *n, 0, 0)?;
    }
    Ok(took)
}

/// One initial load into a fresh database, served by an `eryxon serve` child process: the
/// load's time, the server's peak RSS in kB, and its threads' CPU time.
pub async fn load_once(
    engine: Engine,
    dir: &std::path::Path,
    rep: usize,
    load: &Load,
) -> Result<(Duration, u64, String)> {
    let db = fresh_db(engine, dir, &format!("load{rep}")).await?;
    let key = {
        let store = store::open(&db.url).await?;
        let mut raw = Raw::open(engine, &db.url).await?;
        key_and_tenant(&*store, &mut raw, engine).await?.0
    };
    let server = ChildServer::spawn(&db.url).await?;
    let (a, b) = (Api::new(&server.base, &key), Api::new(&server.base, &key));
    let took = run_load([&a, &b], load).await;
    let peak = server.peak_rss_kb();
    let cpu = server.cpu_by_thread();
    server.stop().await?;
    drop_db(&db).await?;
    let cpu = cpu?
        .iter()
        .map(|(name, s)| format!("{name} {s:.2} s"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((took?, peak?, cpu))
}

/// Fills the jobs table with `rows` jobs of the bench tenant, in the live mode and the bench's
/// source, so the identity index is the one a large tenant has.
pub async fn fill(raw: &mut Raw, engine: Engine, tenant: &str, rows: u64) -> Result<u64> {
    let now = store::timestamp();
    let sql = match engine {
        Engine::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?3) \
             INSERT INTO jobs (id, tenant_id, mode, external_source, external_id, job_number, \
               customer, due_date, priority, status, metadata, created_at, updated_at) \
             SELECT printf('00000000-0000-7000-8000-%012x', i), ?1, 'live', 'SAP', \
               printf('BIG-%08d', i), 'JOB-BIG-' || i, 'Customer ' || (i % 97), \
               printf('2024-%02d-%02d', 1 + i % 12, 1 + i / 12 % 28), i % 10, 'completed', \
               json_object('line', i), ?2, ?2 FROM n"
        }
        Engine::Postgres => {
            "INSERT INTO jobs (id, tenant_id, mode, external_source, external_id, job_number, \
               customer, due_date, priority, status, metadata, created_at, updated_at) \
             SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, $1::uuid, \
               'live', 'SAP', 'BIG-' || lpad(i::text, 8, '0'), 'JOB-BIG-' || i, \
               'Customer ' || (i % 97), date '2024-01-01' + (i % 365)::int, (i % 10)::int, \
               'completed', jsonb_build_object('line', i), $2::timestamptz, $2::timestamptz \
             FROM generate_series(1, $3::bigint) AS i"
        }
    };
    let written = raw
        .execute(
            sql,
            &[Arg::Text(tenant), Arg::Text(&now), Arg::Int(rows as i64)],
        )
        .await?;
    if engine == Engine::Postgres {
        // What autovacuum and the checkpointer would have done long before a table grew this
        // large: otherwise the figures that follow pay for writing the fill out to disk.
        raw.execute("VACUUM ANALYZE jobs", &[]).await?;
        // CHECKPOINT needs a superuser (or `pg_checkpoint`); without one, the run goes on.
        if let Err(error) = raw.execute("CHECKPOINT", &[]).await {
            eprintln!("note: no CHECKPOINT after the fill ({error})");
        }
    }
    Ok(written)
}
