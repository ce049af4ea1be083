//! The baseline: per record, look the row up by its external id, then insert or update it,
//! each statement in autocommit.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use eryxon::domain::Entity;
use eryxon::store;

use crate::ceiling::{insert_columns, written};
use crate::knobs::{Engine, Knobs};
use crate::raw::{Arg, Raw};
use crate::records::{flat_jobs, nested_jobs, references, Nested, Row, Ty, V};
use crate::scenarios::{reps_of, Three};
use crate::SOURCE;

pub struct Naive {
    pub find: String,
    pub insert: String,
    pub update: String,
}

impl Naive {
    pub fn new(engine: Engine, entity: Entity) -> Naive {
        let p = |n: usize, ty: Ty| engine.param(n, ty);
        let id = match engine {
            Engine::Sqlite => "id",
            Engine::Postgres => "id::text",
        };
        let find = format!(
            "SELECT {id} FROM {} WHERE tenant_id = {} AND mode = {} \
             AND external_source = {} AND external_id = {}",
            entity.plural(),
            p(1, Ty::Uuid),
            p(2, Ty::Text),
            p(3, Ty::Text),
            p(4, Ty::Text),
        );
        let columns = written(entity);
        let mut values = vec![
            p(1, Ty::Uuid),
            p(2, Ty::Uuid),
            p(3, Ty::Text),
            p(4, Ty::Text),
            p(5, Ty::Text),
        ];
        values.extend(columns.iter().enumerate().map(|(k, (_, ty))| p(6 + k, *ty)));
        let now = p(6 + columns.len(), Ty::Time);
        values.extend([now.clone(), now.clone(), now]);
        values.push(p(7 + columns.len(), Ty::BigInt));
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            entity.plural(),
            insert_columns(entity),
            values.join(", ")
        );
        let set: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(k, (c, ty))| format!("{c} = {}", p(2 + k, *ty)))
            .collect();
        let now = p(2 + columns.len(), Ty::Time);
        let update = format!(
            "UPDATE {} SET {}, updated_at = {now}, synced_at = {now}, sync_fingerprint = {} \
             WHERE id = {}",
            entity.plural(),
            set.join(", "),
            p(3 + columns.len(), Ty::BigInt),
            p(1, Ty::Uuid),
        );
        Naive {
            find,
            insert,
            update,
        }
    }
}

pub struct Baseline {
    pub jobs: Naive,
    pub parts: Naive,
    pub operations: Naive,
    pub cell: String,
}

impl Baseline {
    pub fn new(engine: Engine) -> Baseline {
        let (id, active) = match engine {
            Engine::Sqlite => ("id", "active = 1"),
            Engine::Postgres => ("id::text", "active"),
        };
        Baseline {
            jobs: Naive::new(engine, Entity::Jobs),
            parts: Naive::new(engine, Entity::Parts),
            operations: Naive::new(engine, Entity::Operations),
            cell: format!(
                "SELECT {id} FROM cells WHERE tenant_id = {} AND mode = {} AND name = {} AND {active}",
                engine.param(1, Ty::Uuid),
                engine.param(2, Ty::Text),
                engine.param(3, Ty::Text),
            ),
        }
    }
}

pub fn value_arg(value: &V) -> Arg<'_> {
    match value {
        V::T(text) | V::J(text) => Arg::Text(text),
        V::I(int) => Arg::Int(*int),
        V::R(real) => Arg::Real(*real),
        V::B(flag) => Arg::Bool(*flag),
    }
}

/// One record the naive way; answers its id and whether it was created.
pub async fn naive_upsert(
    raw: &mut Raw,
    sql: &Naive,
    tenant: &str,
    row: &Row,
    refs: &[String],
) -> Result<(String, bool)> {
    let now = store::timestamp();
    let found = raw
        .text(
            &sql.find,
            &[
                Arg::Text(tenant),
                Arg::Text("live"),
                Arg::Text(SOURCE),
                Arg::Text(&row.ext),
            ],
        )
        .await?;
    let mut rest: Vec<Arg> = refs.iter().map(|r| Arg::Text(r)).collect();
    rest.extend(row.values.iter().map(value_arg));
    rest.push(Arg::Text(&now));
    rest.push(Arg::Int(row.fingerprint()));
    match found {
        Some(id) => {
            let mut args = vec![Arg::Text(&id)];
            args.append(&mut rest);
            raw.execute(&sql.update, &args).await?;
            Ok((id, false))
        }
        None => {
            let id = uuid::Uuid::now_v7().hyphenated().to_string();
            let mut args = vec![
                Arg::Text(&id),
                Arg::Text(tenant),
                Arg::Text("live"),
                Arg::Text(SOURCE),
                Arg::Text(&row.ext),
            ];
            args.append(&mut rest);
            raw.execute(&sql.insert, &args).await?;
            Ok((id, true))
        }
    }
}

pub async fn naive_cell(raw: &mut Raw, sql: &str, tenant: &str, name: &str) -> Result<String> {
    raw.text(
        sql,
        &[Arg::Text(tenant), Arg::Text("live"), Arg::Text(name)],
    )
    .await?
    .with_context(|| format!("no active cell {name:?}"))
}

/// Creations among the records the baseline wrote.
pub async fn baseline_flat(
    raw: &mut Raw,
    sql: &Baseline,
    tenant: &str,
    rows: &[Row],
) -> Result<u64> {
    let mut created = 0;
    for row in rows {
        created += u64::from(naive_upsert(raw, &sql.jobs, tenant, row, &[]).await?.1);
    }
    Ok(created)
}

/// The ids a nested row's references take: its parent's, known from where the row sits, and
/// a cell's, looked up by name among the active ones as the server does.
async fn resolved(
    raw: &mut Raw,
    sql: &Baseline,
    tenant: &str,
    row: &Row,
    parent_id: &str,
) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(row.refs.len());
    for ((_, parent), name) in references(row.entity).zip(&row.refs) {
        ids.push(match parent {
            Entity::Cells => naive_cell(raw, &sql.cell, tenant, name).await?,
            _ => parent_id.to_owned(),
        });
    }
    Ok(ids)
}

pub async fn baseline_nested(
    raw: &mut Raw,
    sql: &Baseline,
    tenant: &str,
    jobs: &[Nested],
) -> Result<u64> {
    let mut created = 0;
    for nested in jobs {
        let (job_id, new) = naive_upsert(raw, &sql.jobs, tenant, &nested.job, &[]).await?;
        created += u64::from(new);
        for (part, operations) in &nested.parts {
            let refs = resolved(raw, sql, tenant, part, &job_id).await?;
            let (part_id, new) = naive_upsert(raw, &sql.parts, tenant, part, &refs).await?;
            created += u64::from(new);
            for operation in operations {
                let refs = resolved(raw, sql, tenant, operation, &part_id).await?;
                created += u64::from(
                    naive_upsert(raw, &sql.operations, tenant, operation, &refs)
                        .await?
                        .1,
                );
            }
        }
    }
    Ok(created)
}

pub async fn baseline_flat_runs(
    raw: &mut Raw,
    engine: Engine,
    tenant: &str,
    knobs: &Knobs,
) -> Result<Three> {
    let sql = Baseline::new(engine);
    let mut out = Three::default();
    for (rep, measured) in reps_of(knobs, knobs.baseline_reps) {
        let prefix = format!("B{rep}");
        let (fresh, changed) = (flat_jobs(&prefix, 0), flat_jobs(&prefix, 1));
        for (slot, (rows, creates)) in
            out.iter_mut()
                .zip([(&fresh, 1000), (&changed, 0), (&changed, 0)])
        {
            let start = Instant::now();
            let created = baseline_flat(raw, &sql, tenant, rows).await?;
            let took = start.elapsed();
            ensure!(
                created == creates,
                "baseline created {created}, not {creates}"
            );
            if measured {
                slot.push(took);
            }
        }
    }
    Ok(out)
}

pub async fn baseline_nested_runs(
    raw: &mut Raw,
    engine: Engine,
    tenant: &str,
    knobs: &Knobs,
) -> Result<[Vec<Duration>; 2]> {
    let sql = Baseline::new(engine);
    let mut out: [Vec<Duration>; 2] = Default::default();
    for (rep, measured) in reps_of(knobs, knobs.baseline_reps) {
        let prefix = format!("NB{rep}");
        for (slot, (rev, creates)) in out.iter_mut().zip([(0, 9000), (1, 0)]) {
            let jobs = nested_jobs(&prefix, rev);
            let start = Instant::now();
            let created = baseline_nested(raw, &sql, tenant, &jobs).await?;
            let took = start.elapsed();
            ensure!(
                created == creates,
                "baseline created {created}, not {creates}"
            );
            if measured {
                slot.push(took);
            }
        }
    }
    Ok(out)
}
