//! The reads of `store/read.rs` run on PostgreSQL: what differs is only how values are bound
//! (a list as a `text[]`).

use async_trait::async_trait;
use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, Postgres, Row};

use crate::domain::view::RecordView;
use crate::domain::Entity;
use crate::store::listing::{Bind, Dialect};
use crate::store::read::{decode, Reader};
use crate::store::StoreError;

/// The reads of one request, on one connection of the pool.
pub(super) struct PostgresReader<'c> {
    pub connection: &'c mut PgConnection,
    pub dialect: Dialect,
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

fn bound<'q>(mut query: Query<'q>, binds: &'q [Bind]) -> Query<'q> {
    for value in binds {
        query = match value {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Texts(texts) => query.bind(texts.as_slice()),
            Bind::Int(n) => query.bind(*n),
        };
    }
    query
}

#[async_trait]
impl Reader for PostgresReader<'_> {
    async fn records(
        &mut self,
        entity: Entity,
        sql: &str,
        binds: &[Bind],
    ) -> Result<Vec<RecordView>, StoreError> {
        let rows = bound(sqlx::query(sql), binds)
            .fetch_all(&mut *self.connection)
            .await?;
        let records = rows
            .iter()
            .map(|row| decode(entity, row, 0, self.dialect))
            .collect::<Result<_, _>>()?;
        Ok(records)
    }

    async fn count(&mut self, sql: &str, binds: &[Bind]) -> Result<u64, StoreError> {
        let row = bound(sqlx::query(sql), binds)
            .fetch_one(&mut *self.connection)
            .await?;
        Ok(row.try_get::<i64, _>(0)?.max(0) as u64)
    }
}
