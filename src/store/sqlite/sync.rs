//! The SQLite writer: `SqliteWriter` runs the engine-neutral sync (`store/sync.rs`, through
//! its `SyncWriter` primitives) on the writer connection, inside one transaction, for one tenant
//! and mode. Its steps live beside it: the statements' text (`sql.rs`), the batch as one JSON
//! parameter (`encode.rs`), the look-up of stored rows (`look.rs`), the upsert (`upsert.rs`)
//! with its insert and update statements (`write.rs`), CPU work done while a statement runs
//! (`overlap.rs`), and the memory of synced rows (`known.rs`), which the upsert reads and keeps
//! through `recall.rs`. The task that runs syncs in shared transactions is `group.rs`.
//!
//! A replace that deletes children forgets what the memory holds of their table, so a child
//! sent again after it is looked up and comes back
//! (`control::a_child_deleted_by_replace_comes_back_when_sent_again`).

use std::collections::{HashMap, HashSet};

use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::domain::outcome::Change;
use crate::domain::schema::Entity;
use crate::domain::view::RecordView;
use crate::domain::Scope;
use crate::store::{Retired, StoreError, SyncWriter, UpsertRow};

use super::encode::encode;
use super::known::KnownRows;
use super::recorded::Recorded;
use super::sql;
use super::tx::SqliteConn;
use crate::store::tx::Statements;

pub(super) struct SqliteWriter<'c> {
    pub conn: &'c mut SqliteConnection,
    pub scope: Scope,
    pub now: String,
    /// What is known of the stored rows, kept up to date as the sync writes; none for a dry
    /// run, which keeps nothing.
    pub known: Option<&'c KnownRows>,
    /// The rows read before the upserts changed them, and the rows they wrote.
    pub recorded: Recorded,
}

impl SqliteWriter<'_> {
    pub(super) fn tenant(&self) -> String {
        self.scope.tenant_id.hyphenated().to_string()
    }
}

impl SyncWriter for SqliteWriter<'_> {
    async fn live_ids(
        &mut self,
        entity: Entity,
        ids: &[Uuid],
    ) -> Result<HashSet<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let found: Vec<Uuid> = self
            .fetch_json(&sql::live_ids(entity), encode(&ids))
            .await?;
        Ok(found.into_iter().collect())
    }

    async fn retire(
        &mut self,
        entity: Entity,
        parents: &[Uuid],
        keep: &[Uuid],
    ) -> Result<Vec<Retired>, StoreError> {
        if parents.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(&sql::retire(entity))
            .bind(&self.now)
            .bind(encode(&parents))
            .bind(encode(&keep))
            .fetch_all(&mut *self.conn)
            .await?;
        if !rows.is_empty() {
            if let Some(known) = self.known {
                known.forget_table(self.scope, entity);
            }
        }
        Retired::from_rows(rows)
    }

    async fn upsert(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
    ) -> Result<Vec<(Uuid, Change)>, StoreError> {
        self.upsert_batch(entity, rows).await
    }

    async fn resolve(
        &mut self,
        entity: Entity,
        keys: &[(&str, &str)],
    ) -> Result<Vec<Option<Uuid>>, StoreError> {
        let found: Vec<(usize, Uuid)> = self
            .fetch_json(&sql::resolve(entity), encode(&keys))
            .await?;
        let mut ids = vec![None; keys.len()];
        for (index, id) in found {
            ids[index] = Some(id);
        }
        Ok(ids)
    }

    async fn cells_named(
        &mut self,
        names: &[&str],
    ) -> Result<HashMap<String, Vec<(Uuid, bool)>>, StoreError> {
        let found: Vec<(String, Uuid, bool)> =
            self.fetch_json(sql::CELLS_NAMED, encode(&names)).await?;
        let mut cells: HashMap<String, Vec<(Uuid, bool)>> = HashMap::new();
        for (name, id, active) in found {
            cells.entry(name).or_default().push((id, active));
        }
        Ok(cells)
    }

    async fn operations_in(
        &mut self,
        cells: &[Uuid],
    ) -> Result<HashMap<(String, String), Uuid>, StoreError> {
        let found: Vec<(String, String, Uuid)> =
            self.fetch_json(sql::OPERATIONS_IN, encode(&cells)).await?;
        Ok(found
            .into_iter()
            .map(|(source, external_id, cell)| ((source, external_id), cell))
            .collect())
    }

    async fn take_written(&mut self) -> Result<Vec<RecordView>, StoreError> {
        self.read_written().await
    }

    fn take_before(&mut self) -> Vec<RecordView> {
        std::mem::take(&mut self.recorded.before)
    }

    fn statements(&mut self) -> impl Statements + '_ {
        SqliteConn(&mut *self.conn)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::domain::patch::Patch;
    use crate::domain::record::RecordKey;
    use crate::domain::schema::Scalar;
    use crate::domain::Mode;
    use crate::store::sqlite::encode::{EncodedRow, UpdateRow};
    use crate::store::sqlite::sql::upsert_sql;

    async fn count_jobs(conn: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM jobs")
            .fetch_one(conn)
            .await
            .expect("jobs count")
    }

    async fn database_with_tenant() -> (SqliteConnection, Scope) {
        let mut conn = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::migrate!("migrations/sqlite")
            .run(&mut conn)
            .await
            .expect("migrations");
        let tenant = Uuid::now_v7();
        sqlx::query("INSERT INTO tenants (id, slug, created_at) VALUES (?1, 'acme', '')")
            .bind(tenant.hyphenated().to_string())
            .execute(&mut conn)
            .await
            .expect("tenant");
        let scope = Scope {
            tenant_id: tenant,
            mode: Mode::Live,
        };
        (conn, scope)
    }

    fn job_key(external_id: &str) -> RecordKey {
        RecordKey {
            source: "SAP".into(),
            external_id: external_id.into(),
        }
    }

    /// A job's values with its job number set.
    fn job_values(number: &str) -> Vec<Patch<Scalar>> {
        let mut values = vec![Patch::Absent; Entity::Jobs.columns().len()];
        values[0] = Patch::Value(Scalar::Text(number.into()));
        values
    }

    fn job_row<'a>(key: &'a RecordKey, values: &'a [Patch<Scalar>]) -> UpsertRow<'a> {
        UpsertRow {
            id: Uuid::now_v7(),
            key,
            refs: Vec::new(),
            values,
        }
    }

    fn job_rows<'a>(keys: &'a [RecordKey], values: &'a [Vec<Patch<Scalar>>]) -> Vec<UpsertRow<'a>> {
        keys.iter()
            .zip(values)
            .map(|(k, v)| job_row(k, v))
            .collect()
    }

    async fn job_numbers(conn: &mut SqliteConnection) -> Vec<(String, String)> {
        sqlx::query_as("SELECT external_id, job_number FROM jobs ORDER BY external_id")
            .fetch_all(conn)
            .await
            .expect("jobs")
    }

    /// The update is an upsert whose proposed row must never be inserted: a rowid that no row
    /// holds fails the statement (its tenant does not exist) rather than creating a row.
    #[tokio::test]
    async fn an_update_of_a_row_that_is_not_stored_fails_and_creates_nothing() {
        let (mut conn, scope) = database_with_tenant().await;
        let key = job_key("J-1");
        let values = job_values("1");
        let row = job_row(&key, &values);
        let mut writer = SqliteWriter {
            conn: &mut conn,
            scope,
            now: crate::store::timestamp(),
            known: None,
            recorded: Recorded::default(),
        };
        let synced = writer
            .upsert(Entity::Jobs, std::slice::from_ref(&row))
            .await;
        assert!(matches!(synced.as_deref(), Ok([(_, Change::Created)])));

        let recall = writer.recall();
        let fields = EncodedRow::of(&row, &mut Vec::new(), recall).encoded_fields();
        let unstored = UpdateRow {
            rowid: 1_000,
            id: Uuid::now_v7(),
            fields: &fields,
            sends_every_column: false,
        };
        let outcome = writer
            .update(upsert_sql(Entity::Jobs), false, &[unstored])
            .await;
        assert!(outcome.is_err(), "an update of no stored row fails");
        assert_eq!(count_jobs(writer.conn).await, 1, "and inserts nothing");
    }

    /// A remembered rowid is trusted only for the row whose id it holds: were two rowids
    /// remembered the wrong way round, neither row is written with the other's values, and
    /// the sync is refused so that it runs again from what is stored.
    #[tokio::test]
    async fn a_misremembered_rowid_writes_no_other_row() {
        let (mut conn, scope) = database_with_tenant().await;
        let known = KnownRows::default();
        let keys = [job_key("J-1"), job_key("J-2")];
        let first = [job_values("1"), job_values("2")];
        let rows = job_rows(&keys, &first);
        let mut writer = SqliteWriter {
            conn: &mut conn,
            scope,
            now: crate::store::timestamp(),
            known: Some(&known),
            recorded: Recorded::default(),
        };
        writer.upsert(Entity::Jobs, &rows).await.expect("inserted");
        let hashes = keys.each_ref().map(|key| known.key(key));
        known.swap_rowids(scope, Entity::Jobs, hashes[0], hashes[1]);

        let changed = [job_values("1b"), job_values("2b")];
        let rows = job_rows(&keys, &changed);
        let outcome = writer.upsert(Entity::Jobs, &rows).await;
        assert!(matches!(outcome, Err(StoreError::Misremembered)), "refused");
        let expected = |a: &str, b: &str| vec![("J-1".into(), a.into()), ("J-2".into(), b.into())];
        assert_eq!(job_numbers(writer.conn).await, expected("1", "2"));

        known.clear();
        let again = writer.upsert(Entity::Jobs, &rows).await.expect("synced");
        assert!(again.iter().all(|(_, change)| *change == Change::Updated));
        assert_eq!(job_numbers(writer.conn).await, expected("1b", "2b"));
    }
}
