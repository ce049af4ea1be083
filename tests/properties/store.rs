//! The real store: bulk and single syncs as the server runs them, writes it does not make,
//! and what it holds, in the model's terms.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use eryxon::domain::api_key::{IssuedKey, KeyScopes, TenantSlug};
use eryxon::domain::batch::{prepare_bulk, prepare_one, BulkBody};
use eryxon::domain::decode::decode;
use eryxon::domain::outcome::{merged, Change, Counts, RecordError, RecordResult, Synced};
use eryxon::domain::record::{
    CellPayload, Children, JobPayload, OperationPayload, PartPayload, Payload, SyncBatch,
};
use eryxon::domain::{Entity, Mode, Scope};
use eryxon::store::{self, Finish, ListQuery, RecordRef, Store};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Map, Value};

use crate::engines::{fresh_postgres_database, Engine};
use crate::model::{text, Fate, Row, State, Tree};
use crate::sent::{Outside, Step, Table};
use crate::SOURCE;

/// A record's fate as the server reports it, children in the model's order.
pub fn fate(result: &RecordResult) -> Fate {
    fn tree(synced: &Synced) -> Tree {
        let (mut children, mut deleted): (Vec<Tree>, Vec<Tree>) = synced
            .parts
            .iter()
            .chain(&synced.operations)
            .map(tree)
            .partition(|c| c.change != Change::Deleted);
        deleted.sort_by(|a, b| a.external_id.cmp(&b.external_id));
        children.extend(deleted);
        Tree {
            external_id: synced.external_id.clone(),
            change: synced.change,
            children,
            kept: synced.kept.iter().map(|k| k.field).collect(),
        }
    }
    match &result.outcome {
        Ok(synced) => Fate::Synced(tree(synced)),
        Err(error) => Fate::Rejected(error.code, error.field.clone().unwrap_or_default()),
    }
}

fn indexes(batch: &SyncBatch) -> Vec<usize> {
    match batch {
        SyncBatch::Jobs(items) => items.iter().map(|i| i.index).collect(),
        SyncBatch::Parts(items) => items.iter().map(|i| i.index).collect(),
        SyncBatch::Operations(items) => items.iter().map(|i| i.index).collect(),
        SyncBatch::Cells(items) | SyncBatch::Resources(items) => {
            items.iter().map(|i| i.index).collect()
        }
    }
}

fn prepare<P: Payload>(
    records: &[Value],
    children: Option<Children>,
) -> eryxon::domain::batch::Prepared {
    let mut body = Map::new();
    body.insert(P::ENTITY.plural().into(), Value::Array(records.to_vec()));
    let body = serde_json::to_vec(&body).unwrap();
    prepare_bulk(decode::<BulkBody<P>>(&body).unwrap(), children).unwrap()
}

fn prepare_single<P: Payload>(
    record: &Value,
    children: Option<Children>,
) -> Result<SyncBatch, RecordError> {
    let body = serde_json::to_vec(record).unwrap();
    prepare_one(decode::<P>(&body).map_err(RecordError::invalid)?, children)
}

fn children_mode(mode: Option<&str>) -> Option<Children> {
    mode.map(|m| serde_json::from_value(json!(m)).unwrap())
}

/// Every record of a tenant as the list endpoint shows it, deleted ones included.
pub type Snapshot = BTreeMap<Table, Vec<Value>>;

pub struct Harness {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) store: Arc<dyn Store>,
    engine: Engine,
    url: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// One database for a whole property.
    pub fn open(engine: Engine) -> Harness {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let (store, url) = runtime.block_on(async {
            let url = match engine {
                Engine::Sqlite => format!("sqlite://{}", dir.path().join("p.db").display()),
                Engine::Postgres => fresh_postgres_database().await,
            };
            (store::open(&url).await.unwrap(), url)
        });
        Harness {
            runtime,
            store,
            engine,
            url,
            _dir: dir,
        }
    }

    /// A fresh tenant, so every case starts from an empty store.
    pub fn scope(&self) -> Scope {
        self.runtime.block_on(async {
            let tenant = format!("t{}", uuid::Uuid::now_v7().simple());
            let key = IssuedKey::generate(Mode::Live);
            let slug = TenantSlug::parse(&tenant).unwrap();
            self.store
                .create_api_key(&slug, None, &key, KeyScopes::ALL)
                .await
                .unwrap();
            let stored = self.store.find_api_key(&key.lookup).await.unwrap().unwrap();
            Scope {
                tenant_id: stored.tenant_id,
                mode: Mode::Live,
            }
        })
    }

    fn write(&self, scope: Scope, batch: SyncBatch) -> Vec<RecordResult> {
        self.runtime
            .block_on(self.store.sync(scope, batch, Finish::Commit))
            .unwrap()
    }

    /// A bulk sync as the server runs it, checking that the answer has one result per record,
    /// in input order, naming its record, and that its counts are those of the records sent
    /// and of their results.
    pub fn bulk(&self, scope: Scope, step: &Step) -> Result<Vec<RecordResult>, TestCaseError> {
        let records: Vec<Value> = step.records.iter().map(|s| s.json.clone()).collect();
        let children = children_mode(step.children);
        let prepared = match step.table {
            Table::Cells => prepare::<CellPayload>(&records, children),
            Table::Jobs => prepare::<JobPayload>(&records, children),
            Table::Parts => prepare::<PartPayload>(&records, children),
            Table::Operations => prepare::<OperationPayload>(&records, children),
        };
        let batch = prepared.batch;
        let written = indexes(&batch);
        let results = self.write(scope, batch);
        let answered: Vec<usize> = results.iter().map(|r| r.index).collect();
        prop_assert_eq!(answered, written, "the store answers in the batch's order");

        // The handler's own merge, so that it is the one these properties check.
        let results = merged(results, prepared.rejected);
        prop_assert_eq!(results.len(), records.len());
        for (i, (result, record)) in results.iter().zip(&records).enumerate() {
            prop_assert_eq!(result.index, i);
            prop_assert_eq!(
                result.external_id.as_deref(),
                record["external_id"].as_str()
            );
        }
        let counts = Counts::of(&results);
        let tally = |change: Option<Change>| {
            results
                .iter()
                .filter(|r| r.outcome.as_ref().ok().map(|s| s.change) == change)
                .count()
        };
        let (created, unchanged, errors) = (
            tally(Some(Change::Created)),
            tally(Some(Change::Unchanged)),
            tally(None),
        );
        // A top-level record is never deleted; one that lost children counts as updated.
        let updated = tally(Some(Change::Updated)) + unchanged;
        prop_assert_eq!(tally(Some(Change::Deleted)), 0);
        prop_assert_eq!(
            (
                counts.total,
                counts.created,
                counts.updated,
                counts.unchanged,
                counts.errors
            ),
            (records.len(), created, updated, unchanged, errors),
            "counts: records sent, then results created, updated, unchanged, refused"
        );
        prop_assert_eq!(created + updated + errors, records.len());
        Ok(results)
    }

    /// One record through the single-sync path.
    pub fn single(&self, scope: Scope, step: &Step, record: &Value) -> RecordResult {
        let children = children_mode(step.children);
        let prepared = match step.table {
            Table::Cells => prepare_single::<CellPayload>(record, children),
            Table::Jobs => prepare_single::<JobPayload>(record, children),
            Table::Parts => prepare_single::<PartPayload>(record, children),
            Table::Operations => prepare_single::<OperationPayload>(record, children),
        };
        match prepared {
            Ok(batch) => {
                let mut results = self.write(scope, batch);
                assert_eq!(results.len(), 1);
                results.pop().unwrap()
            }
            Err(error) => RecordResult {
                index: 0,
                external_id: None,
                outcome: Err(error),
            },
        }
    }

    /// A write the server does not make: another program's edit of the database, or a delete
    /// through the API.
    pub fn outside(&self, scope: Scope, write: &Outside) {
        use sqlx::Connection;
        self.runtime.block_on(async {
            match write {
                Outside::Edit { job, number } => {
                    let sql = format!(
                        "UPDATE jobs SET job_number = '{number}' \
                         WHERE tenant_id = '{}' AND external_id = '{job}'",
                        scope.tenant_id
                    );
                    match self.engine {
                        Engine::Sqlite => {
                            let mut db = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                            sqlx::query(&sql).execute(&mut db).await.unwrap();
                        }
                        Engine::Postgres => {
                            let mut db = sqlx::PgConnection::connect(&self.url).await.unwrap();
                            sqlx::query(&sql).execute(&mut db).await.unwrap();
                        }
                    }
                }
                Outside::Delete { job } => {
                    let target = RecordRef::External {
                        source: SOURCE.to_owned(),
                        external_id: job.clone(),
                    };
                    self.store
                        .delete(scope, Entity::Jobs, &target)
                        .await
                        .unwrap();
                }
            }
        });
    }

    pub fn snapshot(&self, scope: Scope) -> Snapshot {
        let query = ListQuery {
            limit: 1000,
            include_deleted: true,
            ..ListQuery::default()
        };
        [Table::Cells, Table::Jobs, Table::Parts, Table::Operations]
            .into_iter()
            .map(|table| {
                let page = self
                    .runtime
                    .block_on(self.store.list(scope, table.entity(), &query))
                    .unwrap();
                let rows = page
                    .records
                    .iter()
                    .map(|raw| serde_json::from_str(raw.get()).unwrap())
                    .collect();
                (table, rows)
            })
            .collect()
    }

    /// The stored state in the model's terms.
    pub fn state(&self, scope: Scope) -> State {
        state_of(&self.snapshot(scope))
    }
}

/// A snapshot in the model's terms.
pub fn state_of(snapshot: &Snapshot) -> State {
    let cells: BTreeMap<String, String> = snapshot[&Table::Cells]
        .iter()
        .map(|c| (text(c, "id"), text(c, "external_id")))
        .collect();
    snapshot
        .iter()
        .map(|(&table, records)| {
            let rows = records
                .iter()
                .map(|r| {
                    assert_eq!(r["external_source"], SOURCE);
                    let parent = match table {
                        Table::Parts => Some(text(r, "job_external_id")),
                        Table::Operations => Some(text(r, "part_external_id")),
                        Table::Cells | Table::Jobs => None,
                    };
                    let row = Row {
                        fields: table
                            .fields()
                            .into_iter()
                            .map(|f| (f, r[f].clone()))
                            .collect(),
                        parent,
                        cell: r
                            .get("cell_id")
                            .map(|id| cells[id.as_str().unwrap()].clone()),
                        deleted: !r["deleted_at"].is_null(),
                    };
                    (text(r, "external_id"), row)
                })
                .collect();
            (table, rows)
        })
        .collect()
}

/// Stored state equals the model's, record by record and field by field.
pub fn same_state(stored: &State, model: &State) -> Result<(), TestCaseError> {
    let empty = BTreeMap::new();
    for table in [Table::Cells, Table::Jobs, Table::Parts, Table::Operations] {
        let (stored, model) = (
            stored.get(&table).unwrap_or(&empty),
            model.get(&table).unwrap_or(&empty),
        );
        let ids: BTreeSet<&String> = stored.keys().chain(model.keys()).collect();
        for id in ids {
            prop_assert_eq!(stored.get(id), model.get(id), "{:?} {}", table, id);
        }
    }
    Ok(())
}
