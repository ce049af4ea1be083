//! The model of the shop floor, written from the README's "Closing the loop" and "Produced
//! quantities": which records the floor has worked on (their status is then the floor's), the
//! progress each shows (lifecycle times, actual minutes, produced totals), parts following
//! their operations, and the events each change writes. `model.rs` asks it what a sync may
//! write; `floor_steps.rs` runs the floor's own actions through it.

use std::collections::{BTreeMap, BTreeSet};

use eryxon::domain::outcome::Change;
use serde_json::{json, Value};

use crate::model::{list, replaces, text, Fate, Model, Row, State, Tree};
use crate::sent::{Step, Table};

/// What the floor recorded on one job, part or operation. Times are Unix seconds, as the
/// case's floor clock gave them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// The floor acted on it (or on an operation below it): a sync keeps its status, a delete
    /// of it is refused.
    pub worked: bool,
    pub started_at: Option<i64>,
    pub paused_at: Option<i64>,
    pub resumed_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// Seconds of closed time entries (operations) or in progress (jobs).
    pub seconds: i64,
    /// When the open time entry began (operations) or the job went in progress.
    pub since: Option<i64>,
    /// An operation's completion, set by its `complete`.
    pub percentage: i64,
    /// Reported units of an operation.
    pub units: [i64; 3],
}

/// A part's completion time comes from the action that completed it, or from the sync or
/// delete that did (the server's clock): only whether it has one is compared.
pub const PART_COMPLETED_LATELY: i64 = -1;

/// The floor's side of the model, and what the current step did that the floor reacts to.
#[derive(Debug, Default)]
pub struct Floor {
    /// The floor's clock, Unix seconds: each floor step is sent at its time.
    pub clock: i64,
    pub progress: BTreeMap<(Table, String), Progress>,
    /// The stored ids of operations, read from the store: a part's good units are those of its
    /// last operation by sequence, ties going to the later id.
    pub ids: BTreeMap<String, String>,
    /// This step's writes: each record's own change (before roll-up) and whether it was a
    /// restore of a deleted row.
    pub written: Vec<(Table, String, Change, bool)>,
    /// Records a replace deleted this step.
    pub retired: Vec<(Table, String)>,
    /// Parts whose operations this step changed, moved out or deleted.
    pub touched: BTreeSet<String>,
    /// Events this step wrote, beside the syncs' own (derived from `written`, `retired`).
    pub events: Vec<(String, String)>,
}

impl Floor {
    pub fn of(&self, table: Table, id: &str) -> Progress {
        self.progress
            .get(&(table, id.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn at(&mut self, table: Table, id: &str) -> &mut Progress {
        self.progress.entry((table, id.to_owned())).or_default()
    }

    pub fn worked(&self, table: Table, id: &str) -> bool {
        self.of(table, id).worked
    }

    pub fn begin_step(&mut self) {
        self.written.clear();
        self.retired.clear();
        self.touched.clear();
        self.events.clear();
    }

    /// Notes one upsert, for the events it writes.
    pub fn wrote(&mut self, table: Table, id: &str, change: Change, before: Option<&Row>) {
        let restored = before.is_some_and(|b| b.deleted);
        self.written.push((table, id.to_owned(), change, restored));
    }

    /// Every event of the step, as (type, external id), sorted: a record written writes its
    /// `created`, `restored` or `updated`, one a replace deleted its `deleted`, and the floor's
    /// rules theirs.
    pub fn step_events(&self) -> Vec<(String, String)> {
        let mut events = self.events.clone();
        for (table, id, change, restored) in &self.written {
            let what = match change {
                Change::Created if *restored => "restored",
                Change::Created => "created",
                Change::Updated => "updated",
                Change::Unchanged | Change::Deleted => continue,
            };
            events.push((format!("{}.{what}", kind(*table)), id.clone()));
        }
        for (table, id) in &self.retired {
            events.push((format!("{}.deleted", kind(*table)), id.clone()));
        }
        events.sort();
        events
    }

    /// Whether the step wrote this part's own row, whose event then carries its new totals.
    fn wrote_part(&self, part: &str) -> bool {
        self.written.iter().any(|(table, id, change, _)| {
            *table == Table::Parts && id == part && *change != Change::Unchanged
        })
    }

    /// After a step: a part whose totals changed says so in a `part.updated` of its own, unless
    /// the step wrote the part. Answers those parts.
    pub fn totals_moved(
        &mut self,
        state: &State,
        before: &BTreeMap<String, [i64; 3]>,
    ) -> BTreeSet<String> {
        let mut moved = BTreeSet::new();
        for (part, totals) in all_totals(state, self) {
            if before.get(&part).unwrap_or(&[0; 3]) != &totals {
                if !self.wrote_part(&part) {
                    self.events.push(("part.updated".into(), part.clone()));
                }
                moved.insert(part);
            }
        }
        moved
    }

    pub fn touch(&mut self, part: Option<&String>) {
        if let Some(part) = part {
            self.touched.insert(part.clone());
        }
    }
}

/// The live operations of a part.
pub fn operations_of<'s>(state: &'s State, part: &str) -> Vec<(&'s String, &'s Row)> {
    state
        .get(&Table::Operations)
        .into_iter()
        .flatten()
        .filter(|(_, row)| !row.deleted && row.parent.as_deref() == Some(part))
        .collect()
}

/// A part the floor worked on follows its live operations: completed when none is left to do
/// (and one is done), in progress again when a completed one has one to do, in progress when
/// one of a not-started one's operations has begun. Answers the event it writes.
pub fn follow(state: &mut State, floor: &mut Floor, part: &str, at: i64) -> Option<&'static str> {
    let operations = operations_of(state, part);
    let status = |row: &Row| row.fields["status"].as_str().unwrap_or_default().to_owned();
    let open = operations
        .iter()
        .filter(|(_, o)| status(o) != "completed")
        .count();
    let begun = operations
        .iter()
        .filter(|(_, o)| status(o) != "not_started")
        .count();
    let done = operations.len() - open;
    let row = state.get_mut(&Table::Parts)?.get_mut(part)?;
    if row.deleted {
        return None;
    }
    let now = status(row);
    let progress = floor.at(Table::Parts, part);
    let (next, event) = if open == 0 && done > 0 && now != "completed" {
        progress.completed_at = Some(at);
        progress.worked = true;
        ("completed", "part.completed")
    } else if open > 0 && now == "completed" {
        progress.completed_at = None;
        ("in_progress", "part.updated")
    } else if begun > 0 && now == "not_started" {
        progress.worked = true;
        ("in_progress", "part.started")
    } else {
        return None;
    };
    row.fields.insert("status", json!(next));
    floor.events.push((event.to_owned(), part.to_owned()));
    Some(event)
}

/// A part's totals: the good units of its last live operation (by sequence, an unsequenced
/// one last, then by id; an operation created in this step, its id not yet known, is the
/// latest), and the scrap and rework of all of them.
pub fn totals(state: &State, floor: &Floor, part: &str) -> [i64; 3] {
    let operations = operations_of(state, part);
    let rank = |(id, row): &(&String, &Row)| {
        let sequence = row.fields["sequence"].as_i64();
        (
            sequence.is_none(),
            sequence.unwrap_or(0),
            !floor.ids.contains_key(*id),
            floor.ids.get(*id).cloned().unwrap_or_default(),
        )
    };
    let last = operations.iter().max_by_key(|o| rank(o));
    let units = |id: &str| floor.of(Table::Operations, id).units;
    let good = last.map_or(0, |(id, _)| units(id)[0]);
    let sum = |k: usize| operations.iter().map(|(id, _)| units(id)[k]).sum();
    [good, sum(1), sum(2)]
}

/// Every live part's totals.
pub fn all_totals(state: &State, floor: &Floor) -> BTreeMap<String, [i64; 3]> {
    state
        .get(&Table::Parts)
        .into_iter()
        .flatten()
        .filter(|(_, row)| !row.deleted)
        .map(|(id, _)| (id.clone(), totals(state, floor, id)))
        .collect()
}

/// The floor's columns of a record as the model holds them, in the form `floor_store.rs` reads
/// them: times as Unix seconds (a part's completion only as present or not), counts as
/// numbers.
pub fn shown(
    state: &State,
    floor: &Floor,
    table: Table,
    id: &str,
) -> BTreeMap<&'static str, Value> {
    let p = floor.of(table, id);
    let minutes = (p.seconds + 30) / 60;
    let time = |t: Option<i64>| t.map_or(Value::Null, |t| json!(t));
    let mut shown = BTreeMap::new();
    match table {
        Table::Jobs => {
            shown.insert("started_at", time(p.started_at));
            shown.insert("paused_at", time(p.paused_at));
            shown.insert("resumed_at", time(p.resumed_at));
            shown.insert("completed_at", time(p.completed_at));
            shown.insert("actual_duration_minutes", json!(minutes));
        }
        Table::Parts => {
            shown.insert("completed_at", json!(p.completed_at.is_some()));
            // A deleted part keeps the totals it last had, which the model does not follow.
            if !state[&Table::Parts][id].deleted {
                let [good, scrap, rework] = totals(state, floor, id);
                shown.insert("quantity_good", json!(good));
                shown.insert("quantity_scrap", json!(scrap));
                shown.insert("quantity_rework", json!(rework));
            }
        }
        Table::Operations => {
            shown.insert("started_at", time(p.started_at));
            shown.insert("paused_at", time(p.paused_at));
            shown.insert("completed_at", time(p.completed_at));
            shown.insert("actual_time_minutes", json!(minutes));
            shown.insert("completion_percentage", json!(p.percentage));
            shown.insert("quantity_good", json!(p.units[0]));
            shown.insert("quantity_scrap", json!(p.units[1]));
            shown.insert("quantity_rework", json!(p.units[2]));
        }
        Table::Cells => {}
    }
    shown
}

/// Every record's floor columns, deleted ones included, by table and external id.
pub type Shown = BTreeMap<(Table, String), BTreeMap<&'static str, Value>>;

pub fn all_shown(state: &State, floor: &Floor) -> Shown {
    let mut all = Shown::new();
    for table in [Table::Jobs, Table::Parts, Table::Operations] {
        for id in state.get(&table).into_iter().flatten().map(|(id, _)| id) {
            all.insert((table, id.clone()), shown(state, floor, table, id));
        }
    }
    all
}

/// The event kind of a table's records.
pub fn kind(table: Table) -> &'static str {
    match table {
        Table::Cells => "cell",
        Table::Jobs => "job",
        Table::Parts => "part",
        Table::Operations => "operation",
    }
}

/// The replacing jobs of a request (by index) that would delete what the floor worked on: a
/// stored part of theirs that no job of the request lists, or a stored operation of a part
/// that stays or becomes theirs (stored and not listed by another job, or listed by them)
/// that no job of the request lists. `checked` holds the records refused before the store. A
/// job refused moves nothing, so the conflicts are worked out again without it until they
/// stand (what it listed stays where it is, and another replace may then delete it).
pub fn replace_conflicts(model: &Model, step: &Step, checked: &[Option<Fate>]) -> BTreeSet<usize> {
    let mut conflicts = BTreeSet::new();
    if step.table != Table::Jobs {
        return conflicts;
    }
    let ready: Vec<(usize, &Value)> = step
        .records
        .iter()
        .enumerate()
        .filter(|(i, _)| checked[*i].is_none())
        .map(|(i, sent)| (i, &sent.json))
        .collect();
    loop {
        let found = conflicts_among(model, step, &ready, &conflicts);
        if found == conflicts {
            return conflicts;
        }
        conflicts = found;
    }
}

/// [`replace_conflicts`] with the jobs of `refused` moving nothing.
fn conflicts_among(
    model: &Model,
    step: &Step,
    ready: &[(usize, &Value)],
    refused: &BTreeSet<usize>,
) -> BTreeSet<usize> {
    let mut conflicts = BTreeSet::new();
    let mut lister = BTreeMap::new();
    let mut listed_operations = BTreeSet::new();
    for (i, job) in ready.iter().filter(|(i, _)| !refused.contains(i)) {
        for part in list(job, "parts") {
            lister.insert(text(&part, "external_id"), *i);
            for operation in list(&part, "operations") {
                listed_operations.insert(text(&operation, "external_id"));
            }
        }
    }
    let empty = BTreeMap::new();
    let rows = |table| model.state.get(&table).unwrap_or(&empty);
    let worked = |table, id: &str| model.floor.worked(table, id);
    for (i, job) in ready.iter().filter(|(_, job)| replaces(step, job)) {
        let job_id = text(job, "external_id");
        let mut own: BTreeSet<String> = list(job, "parts")
            .iter()
            .map(|p| text(p, "external_id"))
            .collect();
        let mut conflict = false;
        for (part, row) in rows(Table::Parts) {
            if row.deleted || row.parent.as_deref() != Some(job_id.as_str()) {
                continue;
            }
            if !lister.contains_key(part) {
                conflict |= worked(Table::Parts, part);
                own.insert(part.clone());
            }
        }
        for (operation, row) in rows(Table::Operations) {
            let mine = row.parent.as_ref().is_some_and(|p| own.contains(p));
            if !row.deleted && mine && !listed_operations.contains(operation) {
                conflict |= worked(Table::Operations, operation);
            }
        }
        if conflict {
            conflicts.insert(*i);
        }
    }
    conflicts
}

/// After a sync's writes and deletions: the parts the floor worked on whose operations it
/// changed, moved or deleted follow them. Answers the parts whose status or totals changed.
pub fn settle(
    state: &mut State,
    floor: &mut Floor,
    totals: &BTreeMap<String, [i64; 3]>,
) -> BTreeSet<String> {
    let retired: BTreeSet<String> = floor
        .retired
        .iter()
        .filter(|(table, _)| *table == Table::Parts)
        .map(|(_, id)| id.clone())
        .collect();
    let mut followed = BTreeSet::new();
    for part in floor.touched.clone() {
        if retired.contains(&part) || !floor.worked(Table::Parts, &part) {
            continue;
        }
        if follow(state, floor, &part, PART_COMPLETED_LATELY).is_some() {
            followed.insert(part);
        }
    }
    let moved = floor.totals_moved(state, totals);
    followed.extend(moved);
    followed
}

/// A part of the answer that followed its operations is answered as changed.
pub fn mark(tree: &mut Tree, table: Table, followed: &BTreeSet<String>) {
    let parts = match table {
        Table::Parts => std::slice::from_mut(tree),
        Table::Jobs => &mut tree.children[..],
        Table::Cells | Table::Operations => return,
    };
    for part in parts {
        if part.change == Change::Unchanged && followed.contains(&part.external_id) {
            part.change = Change::Updated;
        }
    }
}
