//! The floor's lifecycle actions, written once for both engines: check the transition, move
//! the status and its times, open or close time entries, complete the part whose operations
//! are all done, and write the events, all in one transaction.

use time::OffsetDateTime;
use uuid::Uuid;

use super::events::append;
use super::part_state::{follow_operations, transition, PartOf};
use super::progress::time_entry;
use super::tx::{Arg, Statements};
use super::{timestamp, timestamp_of, RecordRef, StoreError};
use crate::domain::event::NewEvent;
use crate::domain::floor::{Action, Machine, Report};
use crate::domain::progress::{
    JobLabel, JobProgress, OperationProgress, PartLabel, Progress, TimeEntry, Transition,
};
use crate::domain::value::WorkStatus;
use crate::domain::view::{with_field, RecordView};
use crate::domain::Entity;
use crate::domain::Scope;

/// How a lifecycle action ended, short of a database failure.
#[derive(Debug)]
pub enum Acted {
    Done(Box<Transition>),
    /// No live record of the tenant and mode has that id or key.
    NotFound,
    /// The status does not allow the action; the message says which it allows.
    Refused(String),
    /// The report's time is before the record's previous transition.
    TooEarly(crate::domain::decode::FieldError),
}

/// A stored time as a point in time.
pub(crate) fn parse_stored(text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
}

fn status_of(text: &str) -> Result<WorkStatus, StoreError> {
    WorkStatus::ALL
        .iter()
        .copied()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| {
            StoreError::Database(sqlx::Error::Decode(
                format!("unknown status {text:?}").into(),
            ))
        })
}

/// The condition naming one live record of `alias`'s table in the scope, and its arguments:
/// the tenant ($1), the mode ($2), then the id or the external key.
pub(crate) fn key_condition(alias: &str, scope: Scope, target: &RecordRef) -> (String, Vec<Arg>) {
    let mut args: Vec<Arg> = vec![scope.tenant_id.into(), scope.mode.as_str().into()];
    let key = match target {
        RecordRef::Id(id) => {
            args.push((*id).into());
            format!("{alias}.id = $3::uuid")
        }
        RecordRef::External {
            source,
            external_id,
        } => {
            args.extend([source.as_str().into(), external_id.as_str().into()]);
            format!("{alias}.external_source = $3::text AND {alias}.external_id = $4::text")
        }
    };
    (key, args)
}

/// Runs `action` on the record `target` names, in `tx`, which the caller commits.
pub(crate) async fn act(
    tx: &mut dyn Statements,
    scope: Scope,
    machine: Machine,
    target: &RecordRef,
    action: Action,
    report: &Report,
) -> Result<Acted, StoreError> {
    let (acted, events, now) = act_unlogged(tx, scope, machine, target, action, report).await?;
    let appended = append(tx, scope, &events, &now).await?;
    tx.after_commit(appended);
    Ok(acted)
}

/// [`act`] short of appending its events: answers them, and their time, for the caller to
/// append in the same transaction (SQLite's group commit appends its group's at once). An
/// action refused, or of no record, writes nothing and has no events.
pub(crate) async fn act_unlogged(
    tx: &mut dyn Statements,
    scope: Scope,
    machine: Machine,
    target: &RecordRef,
    action: Action,
    report: &Report,
) -> Result<(Acted, Vec<NewEvent>, String), StoreError> {
    let refused = |acted| Ok((acted, Vec::new(), String::new()));
    let found = match machine {
        Machine::Operation => {
            // 8–11: the labels of its part and job, which its answer names; 12 the part's
            // status.
            let time = tx.dialect().time("t.transitioned_at");
            let columns = format!(
                "t.status, {time}, NULL, p.external_id, p.part_number, j.external_id, \
                 j.job_number, p.status"
            );
            find_operation(tx, scope, target, &columns).await?
        }
        Machine::Job => {
            let (key, args) = key_condition("t", scope, target);
            let d = tx.dialect();
            let sql = format!(
                "SELECT CAST(t.id AS TEXT), NULL, NULL, 0, 0, t.status, {}, {} FROM jobs AS t \
                 WHERE t.tenant_id = $1::uuid AND t.mode = $2::text AND {key} \
                 AND t.deleted_at IS NULL{}",
                d.time("t.transitioned_at"),
                d.time("t.active_since"),
                d.lock_rows(),
            );
            tx.row(&sql, args).await?
        }
    };
    let Some(found) = found else {
        return refused(Acted::NotFound);
    };
    let id = found.id(0)?;
    let previous = status_of(&found.text(5)?)?;
    let next = match machine.next(previous, action) {
        Ok(next) => next,
        Err(refusal) => return refused(Acted::Refused(refusal.message)),
    };
    // `start` on a record on hold continues it, as Eryxon's terminals send it: the record and
    // the event are a `resume`'s (`resumed_at`, `job.resumed`), the answer names the action
    // sent (`floor::jobs_have_their_own_lifecycle`).
    let action = match (action, previous) {
        (Action::Start, WorkStatus::OnHold) => Action::Resume,
        _ => action,
    };
    let last = found.opt_text(6)?.map(|t| parse_stored(&t)).transpose()?;
    let report = match report.after(last) {
        Ok(report) => report,
        Err(error) => return refused(Acted::TooEarly(error)),
    };
    let report = &report;
    let at = timestamp_of(report.at);
    let now = timestamp();
    // The record is read once, after the change: the answer's progress and the event's `data`
    // both come from it (bench figure `lifecycle`: each statement more is paid under the
    // job's, part's and operation's row locks).
    let (record, view, ended, mut events) = match machine {
        Machine::Operation => {
            let ended = operation_time(tx, scope, id, action, report).await?;
            let worked = ended.as_ref().map_or(0, |(_, seconds)| *seconds);
            move_record(tx, machine, id, previous, next, action, &at, &now, worked).await?;
            claim_parents(tx, &found, &at).await?;
            let mut events = Vec::new();
            // A completion may end the part; a first start begins a part not yet begun (only
            // then is it looked at: bench figure `lifecycle`).
            let begins = previous == WorkStatus::NotStarted
                && found.text(12)? == WorkStatus::NotStarted.as_str();
            if next == WorkStatus::Completed || begins {
                let part = PartOf::Operation(id);
                events.extend(follow_operations(tx, part, &at, &now).await?);
            }
            let view = read_record(tx, Entity::Operations, id).await?;
            let part = PartLabel {
                id: found.id(1)?,
                external_id: found.text(8)?,
                part_number: found.text(9)?,
                job: JobLabel {
                    id: found.id(2)?,
                    external_id: found.text(10)?,
                    job_number: found.text(11)?,
                },
            };
            let record = Progress::Operation(OperationProgress::of(&view, part));
            (record, view, ended.map(|(entry, _)| entry), events)
        }
        Machine::Job => {
            let since = found.opt_text(7)?.map(|t| parse_stored(&t)).transpose()?;
            let active = since.map_or(0, |since| (report.at - since).whole_seconds().max(0));
            move_record(tx, machine, id, previous, next, action, &at, &now, active).await?;
            let view = read_record(tx, Entity::Jobs, id).await?;
            (
                Progress::Job(JobProgress::of(&view)),
                view,
                None,
                Vec::new(),
            )
        }
    };
    let mut event = transition(&view, previous.as_str(), next.as_str());
    // Who acted and why, as the terminal said: a job keeps no time entries, and a pause's
    // operator has no place in the one it closes (`floor_records::an_action_says_who_and_why_in_its_event`).
    for (name, said) in [("operator", &report.operator), ("note", &report.note)] {
        if let Some(said) = said {
            event.data = with_field(&event.data, name, said);
        }
    }
    events.insert(
        0,
        NewEvent {
            event_type: machine.event_type(action).to_owned(),
            ..event
        },
    );
    let done = Acted::Done(Box::new(Transition {
        previous_status: previous.as_str().to_owned(),
        new_status: next.as_str().to_owned(),
        record,
        time_entry_ended: ended,
    }));
    Ok((done, events, now))
}

/// The live operation `target` names, with its part and job: columns 0–2 their ids, 3 and 4
/// whether part and job are yet to become the floor's (1) or are already (0), then `columns`
/// (of `operations AS t`). Where the engine locks rows (PostgreSQL), the job, the part and the
/// operation are locked, in that order — the order a sync writes them, so a sync and a floor
/// write never wait for each other in a circle. Every floor write on a part's operations so
/// takes its turn, and the last one's later statements see what the others committed when it
/// completes the part or sums its totals: without the part's lock, two last operations
/// completed at once each saw the other still open and the part stayed unfinished
/// (`floor::concurrent_completions_complete_the_part`,
/// `quantities::concurrent_reports_add_up_on_the_part`).
pub(crate) async fn find_operation(
    tx: &mut dyn Statements,
    scope: Scope,
    target: &RecordRef,
    columns: &str,
) -> Result<Option<super::tx::Row>, StoreError> {
    let (key, args) = key_condition("t", scope, target);
    // FOR UPDATE locks the rows of each table in the order the FROM clause names them.
    let sql = format!(
        "SELECT CAST(t.id AS TEXT), CAST(p.id AS TEXT), CAST(j.id AS TEXT), \
                CASE WHEN p.floor_at IS NULL THEN 1 ELSE 0 END, \
                CASE WHEN j.floor_at IS NULL THEN 1 ELSE 0 END, {columns} \
         FROM jobs AS j JOIN parts AS p ON p.job_id = j.id JOIN operations AS t ON t.part_id = p.id \
         WHERE t.tenant_id = $1::uuid AND t.mode = $2::text AND {key} AND t.deleted_at IS NULL{}",
        tx.dialect().lock_rows()
    );
    tx.row(&sql, args).await
}

/// Makes the part and job of an operation the floor acted on the floor's too (`found` as
/// [`find_operation`] answers it): from then on a sync keeps their status, as it keeps the
/// operation's (`ownership::an_action_makes_part_and_job_the_floors`).
pub(crate) async fn claim_parents(
    tx: &mut dyn Statements,
    found: &super::tx::Row,
    at: &str,
) -> Result<(), StoreError> {
    for (table, id, unclaimed) in [("parts", 1, 3), ("jobs", 2, 4)] {
        if found.int(unclaimed)? == 1 {
            let sql = format!(
                "UPDATE {table} SET floor_at = $2::timestamptz WHERE id = $1::uuid AND floor_at IS NULL"
            );
            tx.run(&sql, vec![found.id(id)?.into(), at.into()]).await?;
        }
    }
    Ok(())
}

/// Opens a time entry (start, resume) or closes the open ones (pause, complete), answering the
/// closed entry and the seconds it added.
async fn operation_time(
    tx: &mut dyn Statements,
    scope: Scope,
    id: Uuid,
    action: Action,
    report: &Report,
) -> Result<Option<(TimeEntry, i64)>, StoreError> {
    let at = timestamp_of(report.at);
    if action.opens_time() {
        tx.run(
            "INSERT INTO time_entries (id, tenant_id, mode, operation_id, operator, note, start_time) \
             VALUES ($1::uuid, $2::uuid, $3::text, $4::uuid, $5::text, $6::text, $7::timestamptz)",
            vec![
                Uuid::now_v7().into(),
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                id.into(),
                report.operator.clone().into(),
                report.note.clone().into(),
                at.as_str().into(),
            ],
        )
        .await?;
        return Ok(None);
    }
    let sql = format!(
        "SELECT CAST(id AS TEXT), {} FROM time_entries WHERE operation_id = $1::uuid AND end_time IS NULL",
        tx.dialect().time("start_time")
    );
    let open = tx.rows(&sql, vec![id.into()]).await?;
    let mut closed = None;
    let mut total = 0;
    for row in open {
        let entry = row.id(0)?;
        let seconds = (report.at - parse_stored(&row.text(1)?)?)
            .whole_seconds()
            .max(0);
        total += seconds;
        tx.run(
            // A note on the closing action is added to the one the entry opened with, not
            // put in its place (`floor_records::an_action_says_who_and_why_in_its_event`).
            "UPDATE time_entries SET end_time = $2::timestamptz, duration_seconds = $3, \
             note = CASE WHEN $4::text IS NULL THEN note WHEN note IS NULL THEN $4::text \
               ELSE note || '; ' || $4::text END WHERE id = $1::uuid",
            vec![
                entry.into(),
                at.as_str().into(),
                seconds.into(),
                report.note.clone().into(),
            ],
        )
        .await?;
        closed = Some(entry);
    }
    match closed {
        Some(entry) => Ok(time_entry(tx, entry).await?.map(|e| (e, total))),
        None => Ok(None),
    }
}

/// Writes a record's new status and times; `seconds` of work end with a hold or completion.
/// The status it had is part of the condition, so of two concurrent actions only one moves
/// it; the other is answered 409 and may retry.
#[allow(clippy::too_many_arguments)]
async fn move_record(
    tx: &mut dyn Statements,
    machine: Machine,
    id: Uuid,
    previous: WorkStatus,
    next: WorkStatus,
    action: Action,
    at: &str,
    now: &str,
    seconds: i64,
) -> Result<(), StoreError> {
    let (table, times) = match (machine, action) {
        (Machine::Operation, Action::Start) => (
            "operations",
            "started_at = COALESCE(started_at, $3::timestamptz), paused_at = NULL",
        ),
        (Machine::Operation, Action::Hold) => ("operations", "paused_at = $3::timestamptz"),
        (Machine::Operation, Action::Resume) => ("operations", "paused_at = NULL"),
        (Machine::Operation, Action::Complete) => (
            "operations",
            "completed_at = $3::timestamptz, completion_percentage = 100",
        ),
        (Machine::Job, Action::Start) => (
            "jobs",
            "started_at = COALESCE(started_at, $3::timestamptz), paused_at = NULL, \
             active_since = $3::timestamptz",
        ),
        (Machine::Job, Action::Hold) => {
            ("jobs", "paused_at = $3::timestamptz, active_since = NULL")
        }
        (Machine::Job, Action::Resume) => (
            "jobs",
            "resumed_at = $3::timestamptz, paused_at = NULL, active_since = $3::timestamptz",
        ),
        (Machine::Job, Action::Complete) => (
            "jobs",
            "completed_at = $3::timestamptz, active_since = NULL",
        ),
    };
    // The seconds in progress, and the whole minutes a record shows for them, rounded as
    // `domain::floor::minutes` rounds a time entry's (`floor_records::reads_show_the_floors_actual_minutes`).
    let (worked, minutes) = match machine {
        Machine::Operation => ("worked_seconds", "actual_time_minutes"),
        Machine::Job => ("active_seconds", "actual_duration_minutes"),
    };
    let sql = format!(
        "UPDATE {table} SET status = $2::text, {times}, transitioned_at = $3::timestamptz, \
         floor_at = COALESCE(floor_at, $3::timestamptz), {worked} = {worked} + $4, \
         {minutes} = ({worked} + $4 + 30) / 60, \
         updated_at = $5::timestamptz WHERE id = $1::uuid AND status = $6::text"
    );
    let args = vec![
        id.into(),
        next.as_str().into(),
        at.into(),
        seconds.into(),
        now.into(),
        previous.as_str().into(),
    ];
    if tx.run(&sql, args).await? == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "the {} changed while this action ran; retry",
            machine.noun()
        )))
    }
}

/// The record `id` of `entity` as `GET` shows it, in this transaction.
async fn read_record(
    tx: &mut dyn Statements,
    entity: Entity,
    id: Uuid,
) -> Result<RecordView, StoreError> {
    tx.record(entity, id)
        .await?
        .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))
}
