//! Settings: the environment knobs and the engines.

use std::str::FromStr;

use anyhow::{bail, Result};

use crate::records::Ty;

pub struct Knobs {
    pub reps: usize,
    pub warmup: usize,
    pub big_rows: u64,
    pub puts: usize,
    pub baseline_reps: usize,
    pub load_reps: usize,
    pub engines: Vec<Engine>,
    /// Scenario groups to run: flat, nested, put, feed, lifecycle, webhooks, load, big.
    pub only: Option<Vec<String>>,
}

pub fn env_or<T: FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={text:?} is not a number")),
        Err(_) => Ok(default),
    }
}

impl Knobs {
    pub fn from_env() -> Result<Knobs> {
        let reps = env_or("ERYXON_BENCH_REPS", 5usize)?.max(1);
        let wanted = std::env::var("ERYXON_BENCH_ENGINES").unwrap_or("sqlite,postgres".into());
        let mut engines = Vec::new();
        for name in wanted.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "sqlite" => engines.push(Engine::Sqlite),
                "postgres" if postgres_admin_url().is_some() => engines.push(Engine::Postgres),
                "postgres" => eprintln!(
                    "PostgreSQL skipped: ERYXON_TEST_POSTGRES_URL is not set \
                     (run ./scripts/with-postgres.sh cargo bench --bench sync)"
                ),
                other => bail!("ERYXON_BENCH_ENGINES: unknown engine {other:?}"),
            }
        }
        Ok(Knobs {
            reps,
            warmup: env_or("ERYXON_BENCH_WARMUP", 1usize)?,
            big_rows: env_or("ERYXON_BENCH_BIG_ROWS", 1_000_000u64)?,
            puts: env_or("ERYXON_BENCH_PUTS", 2000usize)?.max(8),
            baseline_reps: env_or("ERYXON_BENCH_BASELINE_REPS", reps)?.max(1),
            load_reps: env_or("ERYXON_BENCH_LOAD_REPS", reps)?.max(1),
            engines,
            only: std::env::var("ERYXON_BENCH_ONLY")
                .ok()
                .map(|list| list.split(',').map(|g| g.trim().to_owned()).collect()),
        })
    }
}

impl Knobs {
    pub fn runs(&self, group: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|groups| groups.iter().any(|g| g == group))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }

    /// Parameter `n` of a statement; PostgreSQL gets the cast that fixes its type.
    pub fn param(self, n: usize, ty: Ty) -> String {
        match self {
            Engine::Sqlite => format!("?{n}"),
            Engine::Postgres => format!("${n}::{}", ty.pg()),
        }
    }
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("ERYXON_TEST_POSTGRES_URL").ok()
}
