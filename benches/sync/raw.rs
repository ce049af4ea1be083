//! Direct database access, for the fill, the ceiling and the baseline.

use anyhow::Result;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::{ConnectOptions, Connection, Row as _};

use crate::knobs::Engine;

pub enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Real(f64),
    Bool(bool),
    Texts(Vec<Option<&'a str>>),
    Ints(Vec<Option<i32>>),
    Reals(Vec<Option<f64>>),
    Bools(Vec<Option<bool>>),
    BigInts(Vec<i64>),
}

pub enum Raw {
    Lite(SqliteConnection),
    Pg(PgConnection),
}

impl Raw {
    pub async fn open(engine: Engine, url: &str) -> Result<Raw> {
        Ok(match engine {
            // The server's own connection settings, so the comparison is like for like.
            Engine::Sqlite => Raw::Lite(
                eryxon::store::sqlite::connect_options(url)?
                    .connect()
                    .await?,
            ),
            Engine::Postgres => Raw::Pg(PgConnection::connect(url).await?),
        })
    }

    pub async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(match self {
            Raw::Lite(conn) => lite_query(sql, args)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
            Raw::Pg(conn) => pg_query(sql, args)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
        })
    }

    /// Like `execute`, but planned afresh for these very parameters. A plan PostgreSQL caches
    /// for a prepared statement is generic: made once, for arrays of unknown length and the
    /// table as it was then (maybe empty), and kept while the table grows.
    pub async fn execute_planned(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64> {
        Ok(match self {
            Raw::Lite(conn) => lite_query(sql, args)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
            Raw::Pg(conn) => pg_query(sql, args)
                .persistent(false)
                .execute(&mut *conn)
                .await?
                .rows_affected(),
        })
    }

    /// The first column of the first row, as text.
    pub async fn text(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<String>> {
        Ok(match self {
            Raw::Lite(conn) => lite_query(sql, args)
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?,
            Raw::Pg(conn) => pg_query(sql, args)
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| row.try_get(0))
                .transpose()?,
        })
    }
}

pub fn lite_query<'q>(
    sql: &'q str,
    args: &'q [Arg<'q>],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let mut query = sqlx::query(sql);
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(*text),
            Arg::Int(int) => query.bind(*int),
            Arg::Real(real) => query.bind(*real),
            Arg::Bool(flag) => query.bind(*flag),
            Arg::Texts(_) | Arg::Ints(_) | Arg::Reals(_) | Arg::Bools(_) | Arg::BigInts(_) => {
                unreachable!("SQLite takes batches as one JSON text")
            }
        };
    }
    query
}

pub fn pg_query<'q>(
    sql: &'q str,
    args: &'q [Arg<'q>],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut query = sqlx::query(sql);
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(*text),
            Arg::Int(int) => query.bind(*int),
            Arg::Real(real) => query.bind(*real),
            Arg::Bool(flag) => query.bind(*flag),
            Arg::Texts(texts) => query.bind(texts.as_slice()),
            Arg::Ints(ints) => query.bind(ints.as_slice()),
            Arg::Reals(reals) => query.bind(reals.as_slice()),
            Arg::Bools(flags) => query.bind(flags.as_slice()),
            Arg::BigInts(ints) => query.bind(ints.as_slice()),
        };
    }
    query
}
