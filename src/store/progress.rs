//! An operation's progress as quantity reports answer it, and an operation's time
//! entries, read once for both engines.

use uuid::Uuid;

use super::tx::{Row, Statements};
use super::{StoreError, Window, Windowed};
use crate::domain::floor::minutes;
use crate::domain::progress::{JobLabel, OperationProgress, PartLabel, TimeEntry};
use crate::domain::Scope;

pub(crate) async fn operation_progress(
    tx: &mut dyn Statements,
    id: Uuid,
) -> Result<OperationProgress, StoreError> {
    let d = tx.dialect();
    let sql = format!(
        "SELECT CAST(o.id AS TEXT), o.external_source, o.external_id, o.operation_name, \
                CAST(o.sequence AS BIGINT), o.status, {}, {}, {}, o.actual_time_minutes, \
                o.completion_percentage, o.quantity_good, o.quantity_scrap, o.quantity_rework, \
                CAST(o.part_id AS TEXT), CAST(o.cell_id AS TEXT), {}, p.external_id, \
                p.part_number, CAST(j.id AS TEXT), j.external_id, j.job_number \
         FROM operations AS o JOIN parts AS p ON p.id = o.part_id JOIN jobs AS j ON j.id = p.job_id \
         WHERE o.id = $1::uuid",
        d.time("o.started_at"),
        d.time("o.paused_at"),
        d.time("o.completed_at"),
        d.time("o.updated_at"),
    );
    let row = tx
        .row(&sql, vec![id.into()])
        .await?
        .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
    operation_of(&row)
}

fn operation_of(r: &Row) -> Result<OperationProgress, StoreError> {
    Ok(OperationProgress {
        id: r.id(0)?,
        external_source: r.text(1)?,
        external_id: r.text(2)?,
        operation_name: r.text(3)?,
        sequence: r.opt_int(4)?,
        status: r.text(5)?,
        started_at: r.opt_text(6)?,
        paused_at: r.opt_text(7)?,
        completed_at: r.opt_text(8)?,
        actual_time_minutes: r.int(9)?,
        completion_percentage: r.int(10)?,
        quantity_good: r.int(11)?,
        quantity_scrap: r.int(12)?,
        quantity_rework: r.int(13)?,
        part_id: r.id(14)?,
        cell_id: r.id(15)?,
        updated_at: r.text(16)?,
        part: PartLabel {
            id: r.id(14)?,
            external_id: r.text(17)?,
            part_number: r.text(18)?,
            job: JobLabel {
                id: r.id(19)?,
                external_id: r.text(20)?,
                job_number: r.text(21)?,
            },
        },
    })
}

fn time_entry_sql(tx: &dyn Statements, condition: &str) -> String {
    let d = tx.dialect();
    format!(
        "SELECT CAST(id AS TEXT), CAST(operation_id AS TEXT), operator, note, {}, {}, \
                duration_seconds FROM time_entries WHERE {condition} ORDER BY start_time, id",
        d.time("start_time"),
        d.time("end_time"),
    )
}

fn time_entry_of(r: &Row) -> Result<TimeEntry, StoreError> {
    Ok(TimeEntry {
        id: r.id(0)?,
        operation_id: r.id(1)?,
        operator: r.opt_text(2)?,
        note: r.opt_text(3)?,
        start_time: r.text(4)?,
        end_time: r.opt_text(5)?,
        duration_minutes: r.opt_int(6)?.map(minutes),
    })
}

pub(crate) async fn time_entry(
    tx: &mut dyn Statements,
    id: Uuid,
) -> Result<Option<TimeEntry>, StoreError> {
    let sql = time_entry_sql(tx, "id = $1::uuid");
    tx.row(&sql, vec![id.into()])
        .await?
        .as_ref()
        .map(time_entry_of)
        .transpose()
}

/// Whether the tenant has a live operation with this id.
pub(crate) async fn live_operation(
    tx: &mut dyn Statements,
    scope: Scope,
    operation: Uuid,
) -> Result<bool, StoreError> {
    let found = tx
        .row(
            "SELECT 1 FROM operations WHERE id = $3::uuid AND tenant_id = $1::uuid \
             AND mode = $2::text AND deleted_at IS NULL",
            vec![
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                operation.into(),
            ],
        )
        .await?;
    Ok(found.is_some())
}

/// The time entries of an operation of the tenant, oldest first; `None` when the tenant has no
/// live operation with that id.
pub(crate) async fn time_entries(
    tx: &mut dyn Statements,
    scope: Scope,
    operation: Uuid,
    window: Window,
) -> Result<Option<Windowed<TimeEntry>>, StoreError> {
    if !live_operation(tx, scope, operation).await? {
        return Ok(None);
    }
    let sql = time_entry_sql(tx, "operation_id = $1::uuid") + &window.sql();
    let rows = tx.rows(&sql, vec![operation.into()]).await?;
    let items = rows.iter().map(time_entry_of).collect::<Result<_, _>>()?;
    let total = count(tx, "time_entries", operation).await?;
    Ok(Some(Windowed { items, total }))
}

/// How many rows of `table` (time entries, quantity reports) an operation has.
pub(crate) async fn count(
    tx: &mut dyn Statements,
    table: &str,
    operation: Uuid,
) -> Result<u64, StoreError> {
    let sql = format!("SELECT count(*) FROM {table} WHERE operation_id = $1::uuid");
    let found = tx.row(&sql, vec![operation.into()]).await?;
    Ok(found.map_or(Ok(0), |row| row.int(0))?.max(0) as u64)
}
