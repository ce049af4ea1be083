//! [`Tx`] on a PostgreSQL transaction: numbered placeholders as written, stored times printed
//! in the store's fixed-width UTC text.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row as _, TypeInfo, ValueRef};
use uuid::Uuid;

use super::read::PostgresReader;
use crate::domain::view::RecordView;
use crate::domain::Entity;
use crate::store::events::Appended;
use crate::store::listing::Dialect as ListingDialect;
use crate::store::read;
use crate::store::tx::{Arg, Cell, Dialect, Row, Statements, Tx};
use crate::store::StoreError;

/// An open transaction, with the events it wrote, counted once it commits.
pub(crate) struct PgTx(
    pub(crate) sqlx::Transaction<'static, Postgres>,
    pub(crate) Appended,
);

struct PgDialect;

impl Dialect for PgDialect {
    fn lock_rows(&self) -> &'static str {
        " FOR UPDATE"
    }

    fn analyze(&self, table: &str) -> Option<String> {
        Some(format!("ANALYZE {table}"))
    }

    fn data_modifying_with(&self) -> bool {
        true
    }

    fn id_list(&self, n: usize) -> String {
        format!("(SELECT CAST(value AS uuid) FROM jsonb_array_elements_text(${n}::jsonb))")
    }

    fn time(&self, column: &str) -> String {
        format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    }
}

fn query<'q>(
    sql: &'q str,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    args.into_iter().fold(sqlx::query(sql), |q, arg| match arg {
        Arg::Text(text) => q.bind(text),
        Arg::Int(n) => q.bind(n),
        Arg::Bool(b) => q.bind(b),
        Arg::Bytes(bytes) => q.bind(bytes),
    })
}

fn row_of(row: &PgRow) -> Result<Row, StoreError> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Cell::Null);
            }
            Ok(match raw.type_info().name() {
                "INT8" => Cell::Int(row.try_get(i)?),
                "INT4" => Cell::Int(row.try_get::<i32, _>(i)?.into()),
                "INT2" => Cell::Int(row.try_get::<i16, _>(i)?.into()),
                "BOOL" => Cell::Int(row.try_get::<bool, _>(i)?.into()),
                "FLOAT8" => Cell::Real(row.try_get(i)?),
                "FLOAT4" => Cell::Real(row.try_get::<f32, _>(i)?.into()),
                "BYTEA" => Cell::Bytes(row.try_get(i)?),
                "UUID" => Cell::Text(row.try_get::<Uuid, _>(i)?.hyphenated().to_string()),
                _ => Cell::Text(row.try_get(i)?),
            })
        })
        .collect::<Result<_, StoreError>>()
        .map(Row)
}

/// [`Statements`] on a connection inside a transaction its owner ends (a sync's).
pub(crate) struct PgConn<'c>(pub(crate) &'c mut sqlx::PgConnection);

#[async_trait]
impl Statements for PgConn<'_> {
    /// Not reached: a sync returns its events to the engine, which counts them after its
    /// commit (`sync_events::record`). Counting now is the nearest to right if it ever is.
    fn after_commit(&mut self, appended: Appended) {
        appended.committed();
    }

    fn dialect(&self) -> &dyn Dialect {
        &PgDialect
    }

    async fn rows(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        let rows = query(sql, args).fetch_all(&mut *self.0).await?;
        rows.iter().map(row_of).collect()
    }

    async fn run(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        Ok(query(sql, args)
            .execute(&mut *self.0)
            .await?
            .rows_affected())
    }

    async fn record(&mut self, entity: Entity, id: Uuid) -> Result<Option<RecordView>, StoreError> {
        // The select list is the same with or without ICU (it only matters to `search`).
        let dialect = ListingDialect::Postgres { icu: false };
        let mut reader = PostgresReader {
            connection: &mut *self.0,
            dialect,
        };
        read::by_id(&mut reader, dialect, entity, id).await
    }
}

/// [`Statements`] each committed on its own, on a connection of the pool.
pub(crate) struct PgAutocommit<'p>(pub(crate) &'p sqlx::PgPool);

#[async_trait]
impl Statements for PgAutocommit<'_> {
    /// Each statement commits on its own: the events are in the log already.
    fn after_commit(&mut self, appended: Appended) {
        appended.committed();
    }

    fn dialect(&self) -> &dyn Dialect {
        &PgDialect
    }

    async fn rows(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        let rows = query(sql, args).fetch_all(self.0).await?;
        rows.iter().map(row_of).collect()
    }

    async fn run(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        Ok(query(sql, args).execute(self.0).await?.rows_affected())
    }

    async fn record(&mut self, entity: Entity, id: Uuid) -> Result<Option<RecordView>, StoreError> {
        let mut connection = self.0.acquire().await?;
        PgConn(&mut connection).record(entity, id).await
    }
}

#[async_trait]
impl Statements for PgTx {
    fn after_commit(&mut self, appended: Appended) {
        self.1.extend(appended);
    }

    fn dialect(&self) -> &dyn Dialect {
        &PgDialect
    }

    async fn rows(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        PgConn(&mut self.0).rows(sql, args).await
    }

    async fn run(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        PgConn(&mut self.0).run(sql, args).await
    }

    async fn record(&mut self, entity: Entity, id: Uuid) -> Result<Option<RecordView>, StoreError> {
        PgConn(&mut self.0).record(entity, id).await
    }
}

#[async_trait]
impl Tx for PgTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let Self(tx, appended) = *self;
        tx.commit().await?;
        appended.committed();
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<(), StoreError> {
        Ok(self.0.rollback().await?)
    }
}
