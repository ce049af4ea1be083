//! What the shop floor does between syncs — lifecycle actions on operations and jobs, quantity
//! reports, deletes through the API — and what the model expects of each, from the README's
//! "Closing the loop" and "Produced quantities".

use std::collections::BTreeSet;

use eryxon::domain::floor::Action;
use proptest::prelude::*;
use proptest::sample::{select, Index};

use crate::floor_model::{all_totals, follow, kind, PART_COMPLETED_LATELY};
use crate::model::{Model, Row};
use crate::sent::Table;

/// One thing the floor (or a user deleting a record) does.
#[derive(Debug, Clone)]
pub enum Act {
    Operation(String, Action),
    Job(String, Action),
    /// Good, scrap and rework units produced by an operation.
    Report(String, [i64; 3]),
    Delete(Table, String),
}

/// A floor step, `after` seconds of the floor's clock after the previous one: the floor's
/// times are sent (`at`, `recorded_at`), so actual minutes are known to the model. With
/// `pick`, it acts on the live record of its table that the index picks (`Model::aim`), if
/// there is one: the keys alone mostly name records that do not exist (yet, or any more).
#[derive(Debug, Clone)]
pub struct FloorStep {
    pub after: i64,
    pub act: Act,
    pub pick: Option<Index>,
}

/// What a floor step was answered, in the model's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The action moved the record from one status to another.
    Moved(String, String),
    /// The status does not allow the action.
    Refused,
    Reported,
    Deleted {
        parts: u64,
        operations: u64,
    },
    /// The delete is refused: the floor worked on these records (`operation O1`), sorted.
    Worked(Vec<String>),
    NotFound,
}

fn keys(prefix: &str, n: u8) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}{i}")).collect()
}

/// Mostly starts and completions, so that parts complete; a pause, a resume, a job's action,
/// a report of one to three units, a delete now and then.
pub fn floor_step() -> impl Strategy<Value = FloorStep> {
    let operation = || select(keys("O", 4));
    let on_operation = |action| operation().prop_map(move |o| Act::Operation(o, action));
    let act = prop_oneof![
        4 => on_operation(Action::Start),
        3 => on_operation(Action::Complete),
        1 => on_operation(Action::Hold),
        1 => on_operation(Action::Resume),
        2 => (select(keys("J", 3)), select(vec![Action::Start, Action::Hold, Action::Resume, Action::Complete]))
            .prop_map(|(j, action)| Act::Job(j, action)),
        3 => (operation(), 0..3i64, 0..2i64, 0..2i64)
            .prop_map(|(o, good, scrap, rework)| Act::Report(o, [good.max(1 - scrap - rework), scrap, rework])),
        2 => prop_oneof![
            select(keys("J", 3)).prop_map(|j| Act::Delete(Table::Jobs, j)),
            select(keys("P", 3)).prop_map(|p| Act::Delete(Table::Parts, p)),
            select(keys("O", 4)).prop_map(|o| Act::Delete(Table::Operations, o)),
        ],
    ];
    let pick = proptest::option::weighted(0.85, any::<Index>());
    (1..=5400i64, act, pick).prop_map(|(after, act, pick)| FloorStep { after, act, pick })
}

/// The status an action leads to from `from`: start from not started or on hold, hold and
/// complete from in progress, resume from on hold.
fn next(from: &str, action: Action) -> Option<&'static str> {
    match (action, from) {
        (Action::Start, "not_started" | "on_hold") | (Action::Resume, "on_hold") => {
            Some("in_progress")
        }
        (Action::Hold, "in_progress") => Some("on_hold"),
        (Action::Complete, "in_progress") => Some("completed"),
        _ => None,
    }
}

fn live_row<'m>(model: &'m Model, table: Table, id: &str) -> Option<&'m Row> {
    model
        .state
        .get(&table)
        .and_then(|rows| rows.get(id))
        .filter(|row| !row.deleted)
}

fn status(row: &Row) -> String {
    row.fields["status"].as_str().unwrap_or_default().to_owned()
}

impl Model {
    /// The step aimed at the live record its `pick` picks, if any.
    pub fn aim(&self, step: &FloorStep) -> FloorStep {
        let (table, id) = match &step.act {
            Act::Operation(id, _) | Act::Report(id, _) => (Table::Operations, id),
            Act::Job(id, _) => (Table::Jobs, id),
            Act::Delete(table, id) => (*table, id),
        };
        let live: Vec<&String> = (self.state.get(&table).into_iter().flatten())
            .filter(|(_, row)| !row.deleted)
            .map(|(id, _)| id)
            .collect();
        let id = match &step.pick {
            Some(pick) if !live.is_empty() => pick.get(&live).to_string(),
            _ => id.clone(),
        };
        let act = match &step.act {
            Act::Operation(_, action) => Act::Operation(id, *action),
            Act::Report(_, units) => Act::Report(id, *units),
            Act::Job(_, action) => Act::Job(id, *action),
            Act::Delete(table, _) => Act::Delete(*table, id),
        };
        FloorStep {
            act,
            pick: None,
            ..step.clone()
        }
    }

    /// A floor step's answer and its effect on the state and the floor's progress.
    pub fn act(&mut self, step: &FloorStep) -> Answer {
        self.floor.begin_step();
        let totals = all_totals(&self.state, &self.floor);
        self.floor.clock += step.after;
        let at = self.floor.clock;
        let answer = match &step.act {
            Act::Operation(id, action) => self.operation(id, *action, at),
            Act::Job(id, action) => self.job(id, *action, at),
            Act::Report(id, units) => self.report(id, *units),
            Act::Delete(table, id) => self.delete(*table, id),
        };
        self.floor.totals_moved(&self.state, &totals);
        answer
    }

    /// An action on an operation makes it, its part and its job the floor's; starting or
    /// resuming opens a time entry, pausing or completing closes it. A completion, or the first
    /// start in a part not yet started, lets the part follow its operations.
    fn operation(&mut self, id: &str, action: Action, at: i64) -> Answer {
        let Some(row) = live_row(self, Table::Operations, id) else {
            return Answer::NotFound;
        };
        let previous = status(row);
        let Some(next) = next(&previous, action) else {
            return Answer::Refused;
        };
        let part = row.parent.clone().expect("an operation has a part");
        let part_row = live_row(self, Table::Parts, &part).expect("a live part");
        let job = part_row.parent.clone().expect("a part has a job");
        let begins = previous == "not_started" && status(part_row) == "not_started";
        let resumes = action == Action::Resume || previous == "on_hold";
        let p = self.floor.at(Table::Operations, id);
        let event = match action {
            Action::Start | Action::Resume if resumes => {
                p.paused_at = None;
                p.since = Some(at);
                "resumed"
            }
            Action::Start | Action::Resume => {
                p.started_at.get_or_insert(at);
                p.paused_at = None;
                p.since = Some(at);
                "started"
            }
            Action::Hold => {
                p.paused_at = Some(at);
                "paused"
            }
            Action::Complete => {
                p.completed_at = Some(at);
                p.percentage = 100;
                "completed"
            }
        };
        if matches!(action, Action::Hold | Action::Complete) {
            if let Some(since) = p.since.take() {
                p.seconds += at - since;
            }
        }
        p.worked = true;
        self.floor.at(Table::Parts, &part).worked = true;
        self.floor.at(Table::Jobs, &job).worked = true;
        self.set_status(Table::Operations, id, next);
        self.floor
            .events
            .push((format!("operation.{event}"), id.to_owned()));
        if next == "completed" || begins {
            follow(&mut self.state, &mut self.floor, &part, at);
        }
        Answer::Moved(previous, next.to_owned())
    }

    /// A job's own lifecycle: its times, and its minutes in progress.
    fn job(&mut self, id: &str, action: Action, at: i64) -> Answer {
        let Some(row) = live_row(self, Table::Jobs, id) else {
            return Answer::NotFound;
        };
        let previous = status(row);
        let Some(next) = next(&previous, action) else {
            return Answer::Refused;
        };
        let resumes = action == Action::Resume || previous == "on_hold";
        let p = self.floor.at(Table::Jobs, id);
        if let Some(since) = p.since.take() {
            p.seconds += at - since;
        }
        let event = match action {
            Action::Start | Action::Resume if resumes => {
                p.resumed_at = Some(at);
                p.paused_at = None;
                p.since = Some(at);
                "resumed"
            }
            Action::Start | Action::Resume => {
                p.started_at.get_or_insert(at);
                p.paused_at = None;
                p.since = Some(at);
                "started"
            }
            Action::Hold => {
                p.paused_at = Some(at);
                "stopped"
            }
            Action::Complete => {
                p.completed_at = Some(at);
                "completed"
            }
        };
        p.worked = true;
        self.set_status(Table::Jobs, id, next);
        self.floor
            .events
            .push((format!("job.{event}"), id.to_owned()));
        Answer::Moved(previous, next.to_owned())
    }

    /// A report adds to the operation's totals (a completed one's too) and makes it, its part
    /// and its job the floor's.
    fn report(&mut self, id: &str, units: [i64; 3]) -> Answer {
        let Some(row) = live_row(self, Table::Operations, id) else {
            return Answer::NotFound;
        };
        let part = row.parent.clone().expect("an operation has a part");
        let job = live_row(self, Table::Parts, &part)
            .and_then(|p| p.parent.clone())
            .expect("a live part with a job");
        let p = self.floor.at(Table::Operations, id);
        for (total, unit) in p.units.iter_mut().zip(units) {
            *total += unit;
        }
        p.worked = true;
        self.floor.at(Table::Parts, &part).worked = true;
        self.floor.at(Table::Jobs, &job).worked = true;
        self.floor
            .events
            .push(("production.quantity_reported".into(), id.to_owned()));
        Answer::Reported
    }

    /// A delete takes a job's parts and operations along, a part's operations; it is refused
    /// when the floor worked on the record or anything it would take along. Deleting an
    /// operation lets its part, if the floor worked on it, follow the ones left.
    fn delete(&mut self, table: Table, id: &str) -> Answer {
        if live_row(self, table, id).is_none() {
            return Answer::NotFound;
        }
        let children = |model: &Model, table: Table, parents: &BTreeSet<String>| -> Vec<String> {
            let rows = model.state.get(&table).into_iter().flatten();
            rows.filter(|(_, r)| {
                !r.deleted && r.parent.as_ref().is_some_and(|p| parents.contains(p))
            })
            .map(|(id, _)| id.clone())
            .collect()
        };
        let one = |id: &str| BTreeSet::from([id.to_owned()]);
        let (parts, operations) = match table {
            Table::Jobs => {
                // Every part the job ever held: a deleted one holds no live operation.
                let all_parts: BTreeSet<String> = (self.state.get(&Table::Parts).into_iter())
                    .flatten()
                    .filter(|(_, r)| r.parent.as_deref() == Some(id))
                    .map(|(id, _)| id.clone())
                    .collect();
                let live = children(self, Table::Parts, &one(id));
                (live, children(self, Table::Operations, &all_parts))
            }
            Table::Parts => (Vec::new(), children(self, Table::Operations, &one(id))),
            Table::Operations | Table::Cells => (Vec::new(), Vec::new()),
        };
        let mut worked: Vec<String> = std::iter::once((table, id.to_owned()))
            .chain(parts.iter().map(|p| (Table::Parts, p.clone())))
            .chain(operations.iter().map(|o| (Table::Operations, o.clone())))
            .filter(|(table, id)| self.floor.worked(*table, id))
            .map(|(table, id)| format!("{} {id}", kind(table)))
            .collect();
        if !worked.is_empty() {
            worked.sort();
            return Answer::Worked(worked);
        }
        let part = self.state[&table][id].parent.clone();
        let doomed = std::iter::once((table, id.to_owned()))
            .chain(parts.iter().map(|p| (Table::Parts, p.clone())))
            .chain(operations.iter().map(|o| (Table::Operations, o.clone())));
        for (table, id) in doomed {
            self.state
                .get_mut(&table)
                .unwrap()
                .get_mut(&id)
                .unwrap()
                .deleted = true;
            let kind = kind(table);
            self.floor.events.push((format!("{kind}.deleted"), id));
        }
        if let (Table::Operations, Some(part)) = (table, part) {
            if self.floor.worked(Table::Parts, &part) {
                follow(
                    &mut self.state,
                    &mut self.floor,
                    &part,
                    PART_COMPLETED_LATELY,
                );
            }
        }
        Answer::Deleted {
            parts: parts.len() as u64,
            operations: operations.len() as u64,
        }
    }

    fn set_status(&mut self, table: Table, id: &str, status: &str) {
        let row = self.state.get_mut(&table).unwrap().get_mut(id).unwrap();
        row.fields.insert("status", serde_json::json!(status));
    }
}
