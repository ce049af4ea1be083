//! The engine-neutral order of a sync: resolve references for the whole batch, reject what does
//! not resolve, then upsert each entity level with one set-based call. Engines supply only the
//! set-based primitives, inside one transaction.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

mod children;
mod refs;
mod row;

use children::{replace_refusals, retire_left_out_children};
use refs::{missing_parent, resolve_parents, CellDirectory};
pub use row::UpsertRow;

use super::tx::Statements;
use super::StoreError;
use crate::domain::outcome::{Change, RecordError, RecordResult, Synced};
use crate::domain::record::{
    Children, Indexed, JobRecord, OperationRecord, Parented, PartRecord, Record, RecordKey,
    SyncBatch,
};
use crate::domain::schema::Entity;
use crate::domain::view::RecordView;

/// A child row a sync deleted because its payload left it out.
#[derive(Debug, Clone)]
pub struct Retired {
    pub parent: Uuid,
    pub id: Uuid,
    pub external_source: String,
    pub external_id: String,
}

impl Retired {
    /// Rows `(parent id, id, external_source, external_id)` as an engine's RETURNING gives them
    /// back, as text.
    pub fn from_rows(
        rows: Vec<(String, String, String, String)>,
    ) -> Result<Vec<Retired>, StoreError> {
        let id = |text: &str| {
            Uuid::parse_str(text)
                .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
        };
        rows.into_iter()
            .map(|(parent, child, external_source, external_id)| {
                Ok(Retired {
                    parent: id(&parent)?,
                    id: id(&child)?,
                    external_source,
                    external_id,
                })
            })
            .collect()
    }
}

/// Set-based primitives one engine runs inside one transaction, for one tenant and mode.
pub(crate) trait SyncWriter: Send {
    /// Soft-deletes the live parts (of these jobs) or operations (of these parts) that are not
    /// among `keep`, and answers what it deleted.
    fn retire(
        &mut self,
        entity: Entity,
        parents: &[Uuid],
        keep: &[Uuid],
    ) -> impl std::future::Future<Output = Result<Vec<Retired>, StoreError>> + Send;

    /// Creates or updates every row, writing nothing for a row whose values all equal the
    /// stored ones. Answers each row's id and change, in order.
    fn upsert(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
    ) -> impl std::future::Future<Output = Result<Vec<(Uuid, Change)>, StoreError>> + Send;

    /// The ids of the rows with these keys, in order; `None` where there is none.
    fn resolve(
        &mut self,
        entity: Entity,
        keys: &[(&str, &str)],
    ) -> impl std::future::Future<Output = Result<Vec<Option<Uuid>>, StoreError>> + Send;

    /// Which of these ids are live rows of this tenant and mode (and active, for cells).
    fn live_ids(
        &mut self,
        entity: Entity,
        ids: &[Uuid],
    ) -> impl std::future::Future<Output = Result<HashSet<Uuid>, StoreError>> + Send;

    /// The live cells bearing each of these names: id, and whether active.
    #[allow(clippy::type_complexity)]
    fn cells_named(
        &mut self,
        names: &[&str],
    ) -> impl std::future::Future<Output = Result<HashMap<String, Vec<(Uuid, bool)>>, StoreError>> + Send;

    /// The live operations stored in these cells: their key (source, external id) and cell.
    #[allow(clippy::type_complexity)]
    fn operations_in(
        &mut self,
        cells: &[Uuid],
    ) -> impl std::future::Future<Output = Result<HashMap<(String, String), Uuid>, StoreError>> + Send;

    /// The rows the upserts so far created or changed, as a read shows them now (as
    /// PostgreSQL's upsert answered them; read back by rowid on SQLite), taken once.
    fn take_written(
        &mut self,
    ) -> impl std::future::Future<Output = Result<Vec<RecordView>, StoreError>> + Send;

    /// The live stored rows the upserts so far may have changed (whose last sync sent another
    /// fingerprint, by the database or by SQLite's memory of synced rows), as they were before,
    /// read by the engine where it knows they exist (`store/sync_events.rs` derives `updated`'s
    /// changed fields and `kept` from them).
    fn take_before(&mut self) -> Vec<RecordView>;

    /// The engine-neutral statements (the event log), on the sync's connection.
    fn statements(&mut self) -> impl Statements + '_;
}

/// A batch row's stored row, as an engine's look found it.
pub struct Found {
    pub id: Uuid,
    pub deleted: bool,
    /// Whether a value the record sent differs from the stored one.
    pub differs: bool,
}

impl Found {
    /// Whether the sync must write the row: it differs, or it was deleted and comes back.
    pub fn needs_write(&self) -> bool {
        self.deleted || self.differs
    }

    /// The row's id and change, given whether the sync's write changed it.
    pub fn change(&self, written: bool) -> (Uuid, Change) {
        // A deleted record that is synced again comes back: to the ERP it is new.
        let change = if self.deleted {
            Change::Created
        } else if written {
            Change::Updated
        } else {
            Change::Unchanged
        };
        (self.id, change)
    }
}

/// Writes a batch and reports each record, in the batch's order.
pub(crate) async fn run<W: SyncWriter>(
    writer: &mut W,
    batch: &SyncBatch,
) -> Result<Vec<RecordResult>, StoreError> {
    let mut results = match batch {
        SyncBatch::Cells(items) => flat(writer, Entity::Cells, items).await,
        SyncBatch::Resources(items) => flat(writer, Entity::Resources, items).await,
        SyncBatch::Jobs(items) => jobs(writer, items).await,
        SyncBatch::Parts(items) => parts(writer, items).await,
        SyncBatch::Operations(items) => operations(writer, items).await,
    }?;
    results.sort_by_key(|r| r.index);
    Ok(results)
}

/// From how many records a written batch is freed off its writer's path.
const FREE_LATER_FROM: usize = 64;

/// Frees a written batch on another thread, so that its writer answers (and takes the next
/// sync) sooner: 1000 jobs are some 10 000 allocations, 0.12 ms to free.
pub fn free_later(batch: SyncBatch) {
    if batch.len() >= FREE_LATER_FROM {
        rayon::spawn(move || drop(batch));
    }
}

fn fresh_id() -> Uuid {
    Uuid::now_v7()
}

fn row<'a>(record: &'a Record, refs: Vec<Uuid>) -> UpsertRow<'a> {
    UpsertRow {
        id: fresh_id(),
        key: &record.key,
        refs,
        values: &record.values,
    }
}

fn synced(record: &Record, (id, change): (Uuid, Change)) -> Synced {
    Synced::leaf(id, record.key.external_id.clone(), change)
}

fn accepted(index: usize, synced: Synced) -> RecordResult {
    RecordResult {
        index,
        external_id: Some(synced.external_id.clone()),
        outcome: Ok(synced.rolled_up()),
    }
}

fn rejected(index: usize, key: &RecordKey, error: RecordError) -> RecordResult {
    RecordResult {
        index,
        external_id: Some(key.external_id.clone()),
        outcome: Err(error),
    }
}

async fn flat<W: SyncWriter>(
    writer: &mut W,
    entity: Entity,
    items: &[Indexed<Record>],
) -> Result<Vec<RecordResult>, StoreError> {
    let rows: Vec<_> = items.iter().map(|i| row(&i.item, Vec::new())).collect();
    let written = writer.upsert(entity, &rows).await?;
    Ok(items
        .iter()
        .zip(written)
        .map(|(i, done)| accepted(i.index, synced(&i.item, done)))
        .collect())
}

/// A part ready to write: its parent job and the cell of each of its operations.
struct PlacedPart<'a> {
    part: &'a PartRecord,
    job_id: Uuid,
    cells: Vec<Uuid>,
}

/// Upserts parts, then all their operations, answering each part with its operations.
async fn write_parts<W: SyncWriter>(
    writer: &mut W,
    placed: &[PlacedPart<'_>],
) -> Result<Vec<Synced>, StoreError> {
    let part_rows: Vec<_> = placed
        .iter()
        .map(|p| row(&p.part.record, vec![p.job_id]))
        .collect();
    let parts = writer.upsert(Entity::Parts, &part_rows).await?;
    let operation_rows: Vec<_> = placed
        .iter()
        .zip(&parts)
        .flat_map(|(p, (part_id, _))| {
            p.part
                .operations
                .iter()
                .zip(&p.cells)
                .map(move |(op, cell_id)| row(&op.record, vec![*part_id, *cell_id]))
        })
        .collect();
    let mut operations = writer
        .upsert(Entity::Operations, &operation_rows)
        .await?
        .into_iter();
    Ok(placed
        .iter()
        .zip(parts)
        .map(|(p, done)| {
            let mut part = synced(&p.part.record, done);
            part.operations = p
                .part
                .operations
                .iter()
                .map(|op| synced(&op.record, operations.next().expect("one result per row")))
                .collect();
            part
        })
        .collect())
}

async fn jobs<W: SyncWriter>(
    writer: &mut W,
    items: &[Indexed<JobRecord>],
) -> Result<Vec<RecordResult>, StoreError> {
    let all_operations = items
        .iter()
        .flat_map(|i| &i.item.parts)
        .flat_map(|p| &p.operations);
    let cells = CellDirectory::load(writer, all_operations).await?;

    let mut results = Vec::with_capacity(items.len());
    let mut ready = Vec::with_capacity(items.len());
    for item in items {
        let job = &item.item;
        let placed: Result<Vec<Vec<Uuid>>, RecordError> = job
            .parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                cells
                    .cells_of(part)
                    .map_err(|e| e.within(&format!("parts[{i}]")))
            })
            .collect();
        match placed {
            Ok(cells) => ready.push((item, cells)),
            Err(error) => results.push(rejected(item.index, &job.record.key, error)),
        }
    }

    let refused = replace_refusals(writer, &ready).await?;
    ready.retain(|(item, _)| match refused.get(&item.index) {
        Some(error) => {
            results.push(rejected(item.index, &item.item.record.key, error.clone()));
            false
        }
        None => true,
    });
    let job_rows: Vec<_> = ready
        .iter()
        .map(|(i, _)| row(&i.item.record, Vec::new()))
        .collect();
    let jobs_written = writer.upsert(Entity::Jobs, &job_rows).await?;
    let placed: Vec<PlacedPart> = ready
        .iter()
        .zip(&jobs_written)
        .flat_map(|((item, cells), (job_id, _))| {
            item.item
                .parts
                .iter()
                .zip(cells.iter().cloned())
                .map(move |(part, cells)| PlacedPart {
                    part,
                    job_id: *job_id,
                    cells,
                })
        })
        .collect();
    let mut parts = write_parts(writer, &placed).await?.into_iter();
    let mut written: Vec<(usize, bool, Synced)> = Vec::with_capacity(ready.len());
    for ((item, _), done) in ready.iter().zip(jobs_written) {
        let mut job = synced(&item.item.record, done);
        job.parts = parts.by_ref().take(item.item.parts.len()).collect();
        let replace = item.item.children == Some(Children::Replace);
        written.push((item.index, replace, job));
    }
    let mut replacing: Vec<&mut Synced> = written
        .iter_mut()
        .filter(|(_, replace, _)| *replace)
        .map(|(_, _, job)| job)
        .collect();
    retire_left_out_children(writer, &mut replacing).await?;
    results.extend(
        written
            .into_iter()
            .map(|(index, _, job)| accepted(index, job)),
    );
    Ok(results)
}

async fn parts<W: SyncWriter>(
    writer: &mut W,
    items: &[Indexed<Parented<PartRecord>>],
) -> Result<Vec<RecordResult>, StoreError> {
    let jobs = resolve_parents(writer, Entity::Jobs, items, |p| &p.record.key).await?;
    let all_operations = items.iter().flat_map(|i| &i.item.item.operations);
    let cells = CellDirectory::load(writer, all_operations).await?;

    let mut results = Vec::with_capacity(items.len());
    let mut indexes = Vec::with_capacity(items.len());
    let mut placed = Vec::with_capacity(items.len());
    for (item, job_id) in items.iter().zip(jobs) {
        let part = &item.item.item;
        let key = &part.record.key;
        let ready = job_id
            .ok_or_else(|| missing_parent(Entity::Jobs, key, &item.item.parent))
            .and_then(|job_id| {
                Ok(PlacedPart {
                    part,
                    job_id,
                    cells: cells.cells_of(part)?,
                })
            });
        match ready {
            Ok(ready) => {
                indexes.push(item.index);
                placed.push(ready);
            }
            Err(error) => results.push(rejected(item.index, key, error)),
        }
    }
    let written = write_parts(writer, &placed).await?;
    results.extend(
        indexes
            .into_iter()
            .zip(written)
            .map(|(index, part)| accepted(index, part)),
    );
    Ok(results)
}

async fn operations<W: SyncWriter>(
    writer: &mut W,
    items: &[Indexed<Parented<OperationRecord>>],
) -> Result<Vec<RecordResult>, StoreError> {
    let parts = resolve_parents(writer, Entity::Parts, items, |o| &o.record.key).await?;
    let cells = CellDirectory::load(writer, items.iter().map(|i| &i.item.item)).await?;

    let mut results = Vec::with_capacity(items.len());
    let mut ready = Vec::with_capacity(items.len());
    for (item, part_id) in items.iter().zip(parts) {
        let operation = &item.item.item;
        let key = &operation.record.key;
        let refs = part_id
            .ok_or_else(|| missing_parent(Entity::Parts, key, &item.item.parent))
            .and_then(|part_id| Ok(vec![part_id, cells.cell_of(operation)?]));
        match refs {
            Ok(refs) => ready.push((item.index, operation, refs)),
            Err(error) => results.push(rejected(item.index, key, error)),
        }
    }
    let rows: Vec<_> = ready
        .iter()
        .map(|(_, op, refs)| row(&op.record, refs.clone()))
        .collect();
    let written = writer.upsert(Entity::Operations, &rows).await?;
    results.extend(
        ready
            .iter()
            .zip(written)
            .map(|((index, op, _), done)| accepted(*index, synced(&op.record, done))),
    );
    Ok(results)
}
