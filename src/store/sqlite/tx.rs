//! [`Tx`] on a SQLite transaction: `?n` placeholders, and stored times that are already text.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, Sqlite, TypeInfo, ValueRef};
use uuid::Uuid;

use super::read::SqliteReader;
use crate::domain::view::RecordView;
use crate::domain::Entity;
use crate::store::events::Appended;
use crate::store::listing::Dialect as ListingDialect;
use crate::store::read;
use crate::store::tx::{sqlite_placeholders, Arg, Cell, Dialect, Row, Statements, Tx};
use crate::store::StoreError;

/// An open transaction, with the events it wrote, counted once it commits.
pub(crate) struct SqliteTx(
    pub(crate) sqlx::Transaction<'static, Sqlite>,
    pub(crate) Appended,
);

struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn id_list(&self, n: usize) -> String {
        format!("(SELECT value FROM json_each(${n}::text))")
    }

    fn time(&self, column: &str) -> String {
        column.to_owned()
    }

    fn indexed_by(&self, index: &str) -> String {
        format!(" INDEXED BY {index}")
    }

    fn packed(&self, sql: &str, columns: usize) -> Option<String> {
        let values: Vec<String> = (0..columns).map(|k| format!("c{k}")).collect();
        Some(format!(
            "SELECT json_group_array(json_array({})) FROM ({sql})",
            values.join(", ")
        ))
    }
}

fn query<'q>(
    sql: &'q str,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    args.into_iter().fold(sqlx::query(sql), |q, arg| match arg {
        Arg::Text(text) => q.bind(text),
        Arg::Int(n) => q.bind(n),
        Arg::Bool(b) => q.bind(b),
        Arg::Bytes(bytes) => q.bind(bytes),
    })
}

fn row_of(row: &SqliteRow) -> Result<Row, StoreError> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Cell::Null);
            }
            Ok(match raw.type_info().name() {
                "INTEGER" | "BOOLEAN" => Cell::Int(row.try_get(i)?),
                "REAL" => Cell::Real(row.try_get(i)?),
                "BLOB" => Cell::Bytes(row.try_get(i)?),
                _ => Cell::Text(row.try_get(i)?),
            })
        })
        .collect::<Result<_, StoreError>>()
        .map(Row)
}

/// [`Statements`] on a connection inside a transaction its owner ends (a sync's).
pub(crate) struct SqliteConn<'c>(pub(crate) &'c mut sqlx::SqliteConnection);

#[async_trait]
impl Statements for SqliteConn<'_> {
    /// Not reached: a sync returns its events to the engine, which counts them after its
    /// commit (`sync_events::record`). Counting now is the nearest to right if it ever is.
    fn after_commit(&mut self, appended: Appended) {
        appended.committed();
    }

    fn dialect(&self) -> &dyn Dialect {
        &SqliteDialect
    }

    async fn rows(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        let sql = sqlite_placeholders(sql);
        let rows = query(&sql, args).fetch_all(&mut *self.0).await?;
        rows.iter().map(row_of).collect()
    }

    async fn run(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        let sql = sqlite_placeholders(sql);
        Ok(query(&sql, args)
            .execute(&mut *self.0)
            .await?
            .rows_affected())
    }

    async fn record(&mut self, entity: Entity, id: Uuid) -> Result<Option<RecordView>, StoreError> {
        read::by_id(
            &mut SqliteReader(&mut *self.0),
            ListingDialect::Sqlite,
            entity,
            id,
        )
        .await
    }
}

/// [`Statements`] each committed on its own, on a connection of a pool.
pub(crate) struct SqliteAutocommit<'p>(pub(crate) &'p sqlx::SqlitePool);

#[async_trait]
impl Statements for SqliteAutocommit<'_> {
    /// Each statement commits on its own: the events are in the log already.
    fn after_commit(&mut self, appended: Appended) {
        appended.committed();
    }

    fn dialect(&self) -> &dyn Dialect {
        &SqliteDialect
    }

    async fn rows(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        let sql = sqlite_placeholders(sql);
        let rows = query(&sql, args).fetch_all(self.0).await?;
        rows.iter().map(row_of).collect()
    }

    async fn run(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        let sql = sqlite_placeholders(sql);
        Ok(query(&sql, args).execute(self.0).await?.rows_affected())
    }

    async fn record(&mut self, entity: Entity, id: Uuid) -> Result<Option<RecordView>, StoreError> {
        let mut connection = self.0.acquire().await?;
        SqliteConn(&mut connection).record(entity, id).await
    }
}

#[async_trait]
impl Statements for SqliteTx {
    fn after_commit(&mut self, appended: Appended) {
        self.1.extend(appended);
    }

    fn dialect(&self) -> &dyn Dialect {
        &SqliteDialect
    }

    async fn rows(&mut self, sql: &str, args: Vec<Arg>) -> Result<Vec<Row>, StoreError> {
        SqliteConn(&mut self.0).rows(sql, args).await
    }

    async fn run(&mut self, sql: &str, args: Vec<Arg>) -> Result<u64, StoreError> {
        SqliteConn(&mut self.0).run(sql, args).await
    }

    async fn record(&mut self, entity: Entity, id: Uuid) -> Result<Option<RecordView>, StoreError> {
        SqliteConn(&mut self.0).record(entity, id).await
    }
}

#[async_trait]
impl Tx for SqliteTx {
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
