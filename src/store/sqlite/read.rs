//! The reads of `store/read.rs` run on SQLite: what differs is only how values are bound (a
//! list as a JSON array, which `json_each` takes apart).

use async_trait::async_trait;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Row, Sqlite, SqliteConnection};

use crate::domain::view::RecordView;
use crate::domain::Entity;
use crate::store::listing::{Bind, Dialect};
use crate::store::read::{decode, Reader};
use crate::store::StoreError;

/// The reads of one request, on one connection of the reader pool.
pub(super) struct SqliteReader<'c>(pub &'c mut SqliteConnection);

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

fn bound<'q>(mut query: Query<'q>, binds: &'q [Bind]) -> Query<'q> {
    for value in binds {
        query = match value {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Texts(texts) => {
                query.bind(serde_json::to_string(texts).expect("strings serialize"))
            }
            Bind::Int(n) => query.bind(*n),
        };
    }
    query
}

#[async_trait]
impl Reader for SqliteReader<'_> {
    async fn records(
        &mut self,
        entity: Entity,
        sql: &str,
        binds: &[Bind],
    ) -> Result<Vec<RecordView>, StoreError> {
        let rows = bound(sqlx::query(sql), binds)
            .fetch_all(&mut *self.0)
            .await?;
        let records = rows
            .iter()
            .map(|row| decode(entity, row, Dialect::Sqlite))
            .collect::<Result<_, _>>()?;
        Ok(records)
    }

    async fn count(&mut self, sql: &str, binds: &[Bind]) -> Result<u64, StoreError> {
        let row = bound(sqlx::query(sql), binds)
            .fetch_one(&mut *self.0)
            .await?;
        Ok(row.try_get::<i64, _>(0)?.max(0) as u64)
    }
}
