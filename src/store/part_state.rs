//! A part the floor worked on follows its live operations, whoever changed them: it completes
//! when none is left to do, opens again when one is added or set back, and its produced totals
//! are those of the operations it holds now. Written once for both engines; the floor's
//! actions, `DELETE` and syncs all come here.

use uuid::Uuid;

use super::tx::{Arg, Statements};
use super::StoreError;
use crate::domain::event::{kind_of, NewEvent};
use crate::domain::value::WorkStatus;
use crate::domain::view::{with_field, RecordView};
use crate::domain::Entity;

/// Which part [`follow_operations`] looks at.
#[derive(Clone, Copy)]
pub(crate) enum PartOf {
    /// The part an operation belongs to now.
    Operation(Uuid),
    /// The part itself.
    Part(Uuid),
}

/// Completes the part when none of its live operations is left to do and one at least is
/// completed, answering `part.completed`: after the floor completed its last open operation,
/// a `DELETE` or a replace removed it, a sync moved it away, or the ERP sent it completed
/// (`ownership::deleting_the_last_open_operation_completes_the_part`,
/// `floor_records::a_part_follows_its_operations_whoever_changes_them`). A completed part
/// given an operation to do (added, restored, moved in or set back by a sync) is
/// `in_progress` again, answering `part.updated` with `previous_status` and `new_status`; it
/// stayed `completed` while the floor worked on the new operation, and no sync could correct
/// it, the status being the floor's. A part still `not_started` one of whose operations the
/// floor began is `in_progress`, answering `part.started` (it went from `not_started` to
/// `completed` in one step).
pub(crate) async fn follow_operations(
    tx: &mut dyn Statements,
    part: PartOf,
    at: &str,
    now: &str,
) -> Result<Option<NewEvent>, StoreError> {
    let (condition, id) = match part {
        PartOf::Operation(id) => ("(SELECT part_id FROM operations WHERE id = $1::uuid)", id),
        PartOf::Part(id) => ("$1::uuid", id),
    };
    let sql = format!(
        "SELECT CAST(p.id AS TEXT), p.status, \
                CAST((SELECT count(*) FROM operations AS o WHERE o.part_id = p.id \
                  AND o.deleted_at IS NULL AND o.status <> 'completed') AS BIGINT), \
                CAST((SELECT count(*) FROM operations AS o WHERE o.part_id = p.id \
                  AND o.deleted_at IS NULL AND o.status = 'completed') AS BIGINT), \
                CAST((SELECT count(*) FROM operations AS o WHERE o.part_id = p.id \
                  AND o.deleted_at IS NULL AND o.status <> 'not_started') AS BIGINT) \
         FROM parts AS p WHERE p.id = {condition}"
    );
    let row = tx
        .row(&sql, vec![id.into()])
        .await?
        .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
    let (part, status) = (row.id(0)?, row.text(1)?);
    let (open, done, begun) = (row.int(2)?, row.int(3)?, row.int(4)?);
    let completed = status == WorkStatus::Completed.as_str();
    let (set, event_type, next) = if open == 0 && done > 0 && !completed {
        // Completed when its last operation was: terminals report actions late with their
        // own `at`, and the last action taken need not be the last operation completed
        // (`part_follows::a_part_completes_when_its_last_operation_did`).
        (
            "status = 'completed', completed_at = COALESCE((SELECT MAX(o.completed_at) \
               FROM operations AS o WHERE o.part_id = parts.id AND o.deleted_at IS NULL \
               AND o.status = 'completed'), $2::timestamptz), \
             floor_at = COALESCE(floor_at, $2::timestamptz)",
            "part.completed",
            WorkStatus::Completed,
        )
    } else if open > 0 && completed {
        (
            "status = 'in_progress', completed_at = NULL",
            "part.updated",
            WorkStatus::InProgress,
        )
    } else if begun > 0 && status == WorkStatus::NotStarted.as_str() {
        // The floor began one of its operations: Eryxon's `part.started`
        // (`floor::an_operation_goes_through_its_lifecycle`).
        (
            "status = 'in_progress', floor_at = COALESCE(floor_at, $2::timestamptz)",
            "part.started",
            WorkStatus::InProgress,
        )
    } else {
        return Ok(None);
    };
    tx.run(
        &format!("UPDATE parts SET {set}, updated_at = $3::timestamptz WHERE id = $1::uuid"),
        vec![part.into(), at.into(), now.into()],
    )
    .await?;
    let view = tx
        .record(Entity::Parts, part)
        .await?
        .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
    let mut event = transition(&view, &status, next.as_str());
    if next == WorkStatus::InProgress {
        event.data = with_field(&event.data, "changed_fields", &["status", "completed_at"]);
    }
    Ok(Some(NewEvent {
        event_type: event_type.to_owned(),
        ..event
    }))
}

/// Sets the part's produced totals from its live operations: its good units are those of its
/// last live operation (by sequence, unsequenced last, as the part lists them), since what a
/// routing produced is what its last step passed; its scrap and rework are the sums over its
/// live operations. Writes only when they differ, so a part whose totals stand is not touched
/// (`quantities::concurrent_reports_add_up_on_the_part`), and answers then `part.updated`
/// naming the totals that changed: a quantity report or a sync changes the part as `GET`
/// shows it, and a feed reader learns it (`quantities::a_part_says_when_its_totals_change`).
pub(crate) async fn sum_totals(
    tx: &mut dyn Statements,
    part: Uuid,
    now: &str,
) -> Result<Option<Resummed>, StoreError> {
    const TOTALS: [&str; 3] = ["quantity_good", "quantity_scrap", "quantity_rework"];
    let live = "FROM operations AS o WHERE o.part_id = p.id AND o.deleted_at IS NULL";
    let good = format!(
        "COALESCE((SELECT o.quantity_good {live} \
         ORDER BY o.sequence IS NULL DESC, o.sequence DESC, o.id DESC LIMIT 1), 0)"
    );
    let sum = |column: &str| format!("COALESCE((SELECT SUM(o.{column}) {live}), 0)");
    let sql = format!(
        "SELECT CAST(p.quantity_good AS BIGINT), CAST(p.quantity_scrap AS BIGINT), \
                CAST(p.quantity_rework AS BIGINT), \
                CAST({good} AS BIGINT), CAST({} AS BIGINT), CAST({} AS BIGINT) \
         FROM parts AS p WHERE p.id = $1::uuid",
        sum("quantity_scrap"),
        sum("quantity_rework"),
    );
    let Some(row) = tx.row(&sql, vec![part.into()]).await? else {
        return Ok(None);
    };
    let mut changed = Vec::new();
    let mut totals = Vec::new();
    for (i, column) in TOTALS.iter().enumerate() {
        let (held, summed) = (row.int(i)?, row.int(i + 3)?);
        if held != summed {
            changed.push(*column);
        }
        totals.push(summed);
    }
    if changed.is_empty() {
        return Ok(None);
    }
    tx.run(
        "UPDATE parts SET quantity_good = $2, quantity_scrap = $3, quantity_rework = $4, \
         updated_at = $5::timestamptz WHERE id = $1::uuid",
        vec![
            part.into(),
            totals[0].into(),
            totals[1].into(),
            totals[2].into(),
            now.into(),
        ],
    )
    .await?;
    let view = tx
        .record(Entity::Parts, part)
        .await?
        .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
    Ok(Some(Resummed { view, changed }))
}

/// A part whose totals [`sum_totals`] changed: the part as read after, and those totals.
pub(crate) struct Resummed {
    pub view: RecordView,
    pub changed: Vec<&'static str>,
}

impl Resummed {
    /// `part.updated`, its `changed_fields` naming the totals.
    pub(crate) fn event(&self) -> NewEvent {
        let data = with_field(self.view.get(), "changed_fields", &self.changed);
        about(&self.view, "part.updated", data)
    }
}

/// Of `parts`, those whose totals or status may follow their operations, in one statement
/// however many, each with whether the floor worked on it: a part the floor worked on follows
/// its operations' status and totals; a part it never worked on keeps the status the ERP
/// sends, and has totals only while it holds an operation with units (moved in from a part the
/// floor worked on), which it must give back when that operation leaves
/// (property `shop_floor::the_floor_owns_its_progress`). Parts with neither are left alone,
/// so a sync of untouched parts reads nothing more.
pub(crate) async fn following(
    tx: &mut dyn Statements,
    parts: &[Uuid],
) -> Result<Vec<(Uuid, bool)>, StoreError> {
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT CAST(id AS TEXT), CASE WHEN floor_at IS NULL THEN 0 ELSE 1 END FROM parts \
         WHERE id IN {} AND (floor_at IS NOT NULL OR quantity_good <> 0 \
           OR quantity_scrap <> 0 OR quantity_rework <> 0)",
        tx.dialect().id_list(1)
    );
    let ids = serde_json::to_string(parts).expect("ids serialize");
    let rows = tx.rows(&sql, vec![Arg::from(ids)]).await?;
    rows.iter()
        .map(|row| Ok((row.id(0)?, row.int(1)? == 1)))
        .collect()
}

/// The part of an operation a `DELETE` just took away follows it: its totals
/// summed again, and, if the floor worked on it, its status (see [`follow_operations`]).
/// Answers the events, totals first.
pub(crate) async fn follow_lost_operation(
    tx: &mut dyn Statements,
    operation: Uuid,
    now: &str,
) -> Result<Vec<NewEvent>, StoreError> {
    let part = tx
        .row(
            "SELECT CAST(part_id AS TEXT) FROM operations WHERE id = $1::uuid",
            vec![operation.into()],
        )
        .await?
        .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?
        .id(0)?;
    let mut events = Vec::new();
    for (part, worked) in following(tx, &[part]).await? {
        if let Some(resummed) = sum_totals(tx, part, now).await? {
            events.push(resummed.event());
        }
        if worked {
            events.extend(follow_operations(tx, PartOf::Part(part), now, now).await?);
        }
    }
    Ok(events)
}

/// The event of a record's transition, its type left to the caller: its `data` is the record as
/// `GET` shows it after the change, with `previous_status` and `new_status`, as a sync's event
/// shows the record it changed (`floor_records::transition_events_carry_the_record`).
pub(crate) fn transition(view: &RecordView, previous: &str, next: &str) -> NewEvent {
    let data = with_field(view.get(), "previous_status", &previous);
    about(view, "", with_field(&data, "new_status", &next))
}

/// An event of `event_type` about the record `view` shows, carrying `data`.
fn about(view: &RecordView, event_type: &str, data: String) -> NewEvent {
    NewEvent {
        event_type: event_type.to_owned(),
        entity: Some(kind_of(view.entity)),
        record_id: Some(view.id),
        external_source: view.external_source.clone(),
        external_id: Some(view.external_id.clone()),
        data,
    }
}
