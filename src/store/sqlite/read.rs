//! The reads of `store/read.rs` run on SQLite: a list is bound as a JSON array, which
//! `json_each` takes apart, and the records come back as one row of JSON text
//! ([`packed`]), since sqlx's fetching row by row costs more than the query.

use async_trait::async_trait;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Row, Sqlite, SqliteConnection};

use super::packed::{decode_packed, packed};
use crate::domain::view::RecordView;
use crate::domain::Entity;
use crate::store::listing::Bind;
use crate::store::read::Reader;
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
        let sql = packed(entity, sql);
        let row = bound(sqlx::query(&sql), binds)
            .fetch_one(&mut *self.0)
            .await?;
        decode_packed(entity, row.try_get::<&str, _>(0)?)
    }

    async fn count(&mut self, sql: &str, binds: &[Bind]) -> Result<u64, StoreError> {
        let row = bound(sqlx::query(sql), binds)
            .fetch_one(&mut *self.0)
            .await?;
        Ok(row.try_get::<i64, _>(0)?.max(0) as u64)
    }
}
