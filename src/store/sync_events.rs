//! What a sync tells beyond its results, written once for both engines: the events of the
//! records it changed (in its own transaction, so they exist exactly when the change does) and
//! the floor-owned values it sent but could not write (`kept`).
//!
//! [`Recorder`] wraps an engine's [`SyncWriter`] while the engine-neutral sync runs: it notes
//! what each level's upsert answered, and the stored rows the engine read before changing them
//! (`SyncWriter::take_before`: live rows whose last sync sent another fingerprint, so an
//! unchanged re-send and a batch of new records read none). [`Recorder::note_kept`] then takes the
//! written rows (as the engine's upsert answered them, or read back once per entity) and
//! derives everything from the two. Guarded by `events::a_sync_writes_an_event_per_change` and
//! `ownership::a_sync_keeps_the_floors_status`.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::events::{append, append_after, Appended};
use super::history::insert_statement;
use super::part_state::{follow_operations, following, sum_totals, PartOf};
use super::sync::{Retired, SyncWriter, UpsertRow};
use super::sync_follow::Followed;
use super::tx::Arg;
use super::{Finish, StoreError};
use crate::domain::event::{kind_of, NewEvent};
use crate::domain::history::{HistoryDraft, ImportEntry};
use crate::domain::outcome::{Change, Kept, RecordResult};
use crate::domain::record::SyncBatch;
use crate::domain::schema::{Entity, Scalar};
use crate::domain::view::{same_value, with_field, FieldValue, RecordView};
use crate::domain::Scope;

/// A sync run but not yet written down: its results, its history entry (given the call's
/// draft) and the events it caused, as of `now`.
pub(crate) struct Recorded {
    pub results: Vec<RecordResult>,
    pub entry: Option<ImportEntry>,
    pub events: Vec<NewEvent>,
    pub now: String,
}

/// Writes a batch with its events and `kept` notes (`sync::run` inside a [`Recorder`]):
/// answers its results and, given the call's draft, its history entry (written here too,
/// unless a dry run; the engine records a dry run's after rolling back), and the events
/// written, which the engine counts once it has committed.
pub(crate) async fn record<W: SyncWriter>(
    writer: &mut W,
    scope: Scope,
    batch: &SyncBatch,
    history: Option<&HistoryDraft>,
    finish: Finish,
    now: &str,
) -> Result<(Vec<RecordResult>, Option<ImportEntry>, Appended), StoreError> {
    let recorded = prepare(writer, batch, history, finish, now).await?;
    let mut statements = writer.statements();
    // The entry is written before the events (in the same statement where the engine can):
    // taking their positions locks the tenant's position row until commit on PostgreSQL, so
    // nothing that can go earlier runs under that lock (bench figure `put_c8`).
    let entry = recorded.entry.as_ref().filter(|_| finish == Finish::Commit);
    let appended = match entry {
        Some(entry) => {
            let lead = |args: &mut Vec<Arg>| insert_statement(&[(scope, entry)], args);
            append_after(&mut statements, scope, &recorded.events, now, &lead).await?
        }
        None => append(&mut statements, scope, &recorded.events, now).await?,
    };
    Ok((recorded.results, recorded.entry, appended))
}

/// Runs a batch with its `kept` notes, and derives (unless a dry run) its events and history
/// entry without writing them: [`record`] writes them next, SQLite's group commit once for
/// every sync of its group.
pub(crate) async fn prepare<W: SyncWriter>(
    writer: &mut W,
    batch: &SyncBatch,
    history: Option<&HistoryDraft>,
    finish: Finish,
    now: &str,
) -> Result<Recorded, StoreError> {
    let mut recorder = Recorder::new(writer);
    let mut results = super::sync::run(&mut recorder, batch).await?;
    let after = recorder.note_kept(&mut results).await?;
    // A dry run works out its parts' following too (in the transaction it rolls back), so
    // that it answers what the call would (`floor_records::a_sync_answers_what_its_parts_became`);
    // it writes no events.
    let (mut events, followed) = recorder.events(&after, now).await?;
    if finish == Finish::DryRun {
        events.clear();
    }
    followed.settle(&mut results);
    // After the `kept` notes and what the parts that followed their operations became, which
    // the entry records too.
    let entry = history.map(|h| h.entry(&results));
    // An unchanged re-send writes nothing; a call that changed or refused something says so
    // once.
    let summary = entry
        .as_ref()
        .filter(|e| !events.is_empty() || e.counts.errors > 0);
    if let Some(entry) = summary.filter(|_| finish == Finish::Commit) {
        events.push(completed(entry));
    }
    Ok(Recorded {
        results,
        entry,
        events,
        now: now.to_owned(),
    })
}

/// One row an upsert answered.
struct Noted {
    /// The id the row would have had, had it been new.
    fresh: Uuid,
    id: Uuid,
    change: Change,
    /// Which columns the row sent (bit k for column k, references first).
    mask: u64,
    /// The floor-owned values it sent: column index and value.
    floor_sent: Vec<(usize, Scalar)>,
}

/// A [`SyncWriter`] that notes what a sync does, for its events and its `kept` notes.
struct Recorder<'w, W> {
    writer: &'w mut W,
    levels: Vec<(Entity, Vec<Noted>)>,
    retired: Vec<(Entity, Vec<Retired>)>,
    before: HashMap<Uuid, RecordView>,
}

impl<'w, W: SyncWriter> Recorder<'w, W> {
    fn new(writer: &'w mut W) -> Self {
        Recorder {
            writer,
            levels: Vec::new(),
            retired: Vec::new(),
            before: HashMap::new(),
        }
    }

    /// Takes the written rows and notes in `results` what each record kept; answers the rows
    /// by id, for [`Recorder::events`].
    async fn note_kept(
        &mut self,
        results: &mut [RecordResult],
    ) -> Result<HashMap<Uuid, RecordView>, StoreError> {
        let written = self.writer.take_written().await?;
        let after: HashMap<Uuid, RecordView> =
            written.into_iter().map(|row| (row.id, row)).collect();
        let kept = self.kept(&after);
        if !kept.is_empty() {
            for result in results.iter_mut() {
                if let Ok(synced) = &mut result.outcome {
                    synced.each_mut(&mut |s| {
                        if let Some(kept) = kept.get(&s.id) {
                            s.kept = kept.clone();
                        }
                    });
                }
            }
        }
        Ok(after)
    }

    /// The events of what the sync wrote (`after`, from [`Recorder::note_kept`]), and the
    /// parts that followed their operations.
    async fn events(
        mut self,
        after: &HashMap<Uuid, RecordView>,
        now: &str,
    ) -> Result<(Vec<NewEvent>, Followed), StoreError> {
        let mut events = self.record_events(after);
        for (entity, retired) in &self.retired {
            events.extend(retired.iter().map(|r| {
                NewEvent::tombstone(
                    *entity,
                    r.id,
                    r.external_source.clone(),
                    r.external_id.clone(),
                    now,
                )
            }));
        }
        let mut followed = Followed::default();
        self.complete_parts_left_done(after, now, &mut events, &mut followed)
            .await?;
        Ok((events, followed))
    }

    /// The parts whose operations the sync changed, deleted or moved (from and to) follow
    /// them: the floor's parts and those holding units have their totals summed again, and
    /// the floor's complete or open again ([`follow_operations`]). A part the floor never
    /// worked on keeps the status the ERP sent (property
    /// `outside_writes_are_seen_by_later_syncs`), and gives back the units of an operation
    /// that leaves it (`part_follows::totals_follow_the_operations_a_part_holds`).
    /// Guarded by `floor_records::a_replace_leaving_only_completed_operations_completes_the_part`,
    /// `floor_records::moving_the_open_operation_away_completes_the_part` and
    /// `floor_records::a_part_follows_its_operations_whoever_changes_them`.
    async fn complete_parts_left_done(
        &mut self,
        after: &HashMap<Uuid, RecordView>,
        now: &str,
        events: &mut Vec<NewEvent>,
        followed: &mut Followed,
    ) -> Result<(), StoreError> {
        let retired_parts: HashSet<Uuid> = self
            .retired
            .iter()
            .filter(|(entity, _)| *entity == Entity::Parts)
            .flat_map(|(_, retired)| retired.iter().map(|r| r.id))
            .collect();
        let left = self
            .retired
            .iter()
            .filter(|(entity, _)| *entity == Entity::Operations)
            .flat_map(|(_, retired)| retired.iter().map(|r| r.parent));
        let written = self
            .levels
            .iter()
            .filter(|(entity, _)| *entity == Entity::Operations)
            .flat_map(|(_, rows)| rows.iter())
            .filter(|row| row.change != Change::Unchanged)
            .flat_map(|row| {
                let from = self
                    .before
                    .get(&row.id)
                    .and_then(|v| v.reference("part_id"));
                let to = after.get(&row.id).and_then(|v| v.reference("part_id"));
                from.into_iter().chain(to)
            });
        let mut seen = HashSet::new();
        let parts: Vec<Uuid> = left
            .chain(written)
            .filter(|part| !retired_parts.contains(part) && seen.insert(*part))
            .collect();
        // An operation with produced units moved into a part the floor has not worked on
        // brings its units there.
        let produced = |view: &RecordView| {
            ["quantity_good", "quantity_scrap", "quantity_rework"]
                .iter()
                .any(|c| view.int(c).unwrap_or(0) != 0)
        };
        let receiving: HashSet<Uuid> = after
            .values()
            .filter(|view| view.entity == Entity::Operations && produced(view))
            .filter_map(|view| view.reference("part_id"))
            .filter(|part| !retired_parts.contains(part))
            .collect();
        let mut statements = self.writer.statements();
        let following = following(&mut statements, &parts).await?;
        for part in receiving
            .iter()
            .filter(|p| !following.iter().any(|(f, _)| f == *p))
        {
            if let Some(resummed) = sum_totals(&mut statements, *part, now).await? {
                followed.totals(events, resummed);
            }
        }
        for (part, worked) in following {
            if let Some(resummed) = sum_totals(&mut statements, part, now).await? {
                followed.totals(events, resummed);
            }
            if !worked {
                continue;
            }
            let moved = follow_operations(&mut statements, PartOf::Part(part), now, now).await?;
            if let Some(event) = moved {
                followed.status(part, &event);
                events.push(event);
            }
        }
        Ok(())
    }

    /// Per record, the floor-owned values it sent that differ from what it holds.
    fn kept(&self, after: &HashMap<Uuid, RecordView>) -> HashMap<Uuid, Vec<Kept>> {
        let mut kept = HashMap::new();
        for (entity, rows) in &self.levels {
            for row in rows.iter().filter(|r| !r.floor_sent.is_empty()) {
                let Some(view) = after.get(&row.id).or_else(|| self.before.get(&row.id)) else {
                    continue;
                };
                let notes: Vec<Kept> = row
                    .floor_sent
                    .iter()
                    .filter_map(|(k, sent)| {
                        let column = &entity.columns()[*k];
                        match &view.values[*k] {
                            FieldValue::Text(held) if !matches!(sent, Scalar::Text(t) if t == held) => {
                                Some(Kept::floor_owned(column.name, held))
                            }
                            _ => None,
                        }
                    })
                    .collect();
                if !notes.is_empty() {
                    kept.insert(row.id, notes);
                }
            }
        }
        kept
    }

    /// `{kind}.created`, `.restored` and `.updated` (with the fields that changed), in the
    /// order the levels were written.
    fn record_events(&self, after: &HashMap<Uuid, RecordView>) -> Vec<NewEvent> {
        let mut events = Vec::new();
        for (entity, rows) in &self.levels {
            for row in rows {
                let Some(view) = after.get(&row.id) else {
                    continue;
                };
                let (change, data) = match row.change {
                    Change::Unchanged | Change::Deleted => continue,
                    Change::Created if row.fresh == row.id => ("created", view.get().to_owned()),
                    Change::Created => ("restored", view.get().to_owned()),
                    Change::Updated => {
                        let changed = match self.before.get(&row.id) {
                            Some(before) => changed_fields(before, view),
                            None => sent_fields(*entity, row),
                        };
                        (
                            "updated",
                            with_field(view.get(), "changed_fields", &changed),
                        )
                    }
                };
                let kind = kind_of(*entity);
                events.push(NewEvent {
                    event_type: format!("{kind}.{change}"),
                    entity: Some(kind),
                    record_id: Some(row.id),
                    external_source: view.external_source.clone(),
                    external_id: Some(view.external_id.clone()),
                    data,
                });
            }
        }
        events
    }
}

impl<W: SyncWriter> SyncWriter for Recorder<'_, W> {
    async fn retire(
        &mut self,
        entity: Entity,
        parents: &[Uuid],
        keep: &[Uuid],
    ) -> Result<Vec<Retired>, StoreError> {
        let retired = self.writer.retire(entity, parents, keep).await?;
        self.retired.push((entity, retired.clone()));
        Ok(retired)
    }

    async fn upsert(
        &mut self,
        entity: Entity,
        rows: &[UpsertRow<'_>],
    ) -> Result<Vec<(Uuid, Change)>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let done = self.writer.upsert(entity, rows).await?;
        let before = self.writer.take_before();
        self.before
            .extend(before.into_iter().map(|row| (row.id, row)));
        let noted = rows
            .iter()
            .zip(&done)
            .map(|(row, &(id, change))| Noted {
                fresh: row.id,
                id,
                change,
                mask: row.mask(),
                floor_sent: row.floor_values(entity).collect(),
            })
            .collect();
        self.levels.push((entity, noted));
        Ok(done)
    }

    async fn resolve(
        &mut self,
        entity: Entity,
        keys: &[(&str, &str)],
    ) -> Result<Vec<Option<Uuid>>, StoreError> {
        self.writer.resolve(entity, keys).await
    }

    async fn live_ids(
        &mut self,
        entity: Entity,
        ids: &[Uuid],
    ) -> Result<HashSet<Uuid>, StoreError> {
        self.writer.live_ids(entity, ids).await
    }

    async fn cells_named(
        &mut self,
        names: &[&str],
    ) -> Result<HashMap<String, Vec<(Uuid, bool)>>, StoreError> {
        self.writer.cells_named(names).await
    }

    async fn operations_in(
        &mut self,
        cells: &[Uuid],
    ) -> Result<HashMap<(String, String), Uuid>, StoreError> {
        self.writer.operations_in(cells).await
    }

    async fn take_written(&mut self) -> Result<Vec<RecordView>, StoreError> {
        self.writer.take_written().await
    }

    fn take_before(&mut self) -> Vec<RecordView> {
        self.writer.take_before()
    }

    fn statements(&mut self) -> impl super::tx::Statements + '_ {
        self.writer.statements()
    }
}

/// The fields whose values differ between two reads of a record.
fn changed_fields(before: &RecordView, after: &RecordView) -> Vec<&'static str> {
    before
        .entity
        .read_columns()
        .zip(before.values.iter().zip(&after.values))
        .filter(|(_, (b, a))| !same_value(b, a))
        .map(|(column, _)| column.name)
        .collect()
}

/// The fields a row sent, for an update whose earlier state was not read.
fn sent_fields(entity: Entity, row: &Noted) -> Vec<&'static str> {
    entity
        .columns()
        .iter()
        .enumerate()
        .filter(|(k, _)| row.mask & (1 << k) != 0)
        .map(|(_, column)| column.name)
        .collect()
}

/// The history entry of a call refused record by record, and its `sync.completed`, in `tx`,
/// which it commits ([`Store::record_refused_call`](super::Store::record_refused_call)).
pub(crate) async fn record_refused_call(
    mut tx: Box<dyn super::tx::Tx>,
    scope: Scope,
    entry: &ImportEntry,
) -> Result<(), StoreError> {
    super::history::insert(&mut *tx, &[(scope, entry)]).await?;
    let now = super::timestamp();
    let appended = append(&mut *tx, scope, &[completed(entry)], &now).await?;
    tx.after_commit(appended);
    tx.commit().await
}

/// `sync.completed`: the call, its counts and its history entry.
fn completed(entry: &ImportEntry) -> NewEvent {
    NewEvent {
        event_type: "sync.completed".to_owned(),
        entity: None,
        record_id: None,
        external_source: None,
        external_id: None,
        data: serde_json::json!({
            "import_id": entry.id,
            "endpoint": entry.endpoint,
            "entity": entry.entity.plural(),
            "sources": entry.sources,
            "status": entry.status,
            "total": entry.counts.total,
            "created": entry.counts.created,
            "updated": entry.counts.updated,
            "unchanged": entry.counts.unchanged,
            "errors": entry.counts.errors,
        })
        .to_string(),
    }
}
