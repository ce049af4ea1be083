//! Produced quantities, written once for both engines: find the operation, answer a retried
//! `client_event_id` with its first report, else store the report, add it to the operation's
//! totals, recompute the part's, mark operation, part and job as the floor's, and write the
//! `production.quantity_reported` event, all in one transaction.

use uuid::Uuid;

use super::events::append;
use super::floor::{claim_parents, find_operation};
use super::part_state::sum_totals;
use super::progress::operation_progress;
use super::tx::{Arg, Row, Tx};
use super::{timestamp, timestamp_of, StoreError, Window, Windowed};
use crate::domain::event::NewEvent;
use crate::domain::quantity::{NewReport, QuantityReport, Recorded, Reported};
use crate::domain::Scope;

/// Records `report` in `tx`, which the caller commits when it is [`Reported::Created`].
pub(crate) async fn report(
    tx: &mut dyn Tx,
    scope: Scope,
    report: &NewReport,
) -> Result<Reported, StoreError> {
    // Locked with its part and job: two reports on one operation add up one after the other,
    // reports on one part sum its totals in turn, and a retry waits for the first call's
    // commit and then finds its report.
    let Some(found) = find_operation(tx, scope, &report.operation, "NULL").await? else {
        return Ok(Reported::NotFound);
    };
    let (operation, part) = (found.id(0)?, found.id(1)?);
    if let Some(earlier) = earlier(tx, scope, report, operation).await? {
        return Ok(earlier);
    }
    let id = Uuid::now_v7();
    let now = timestamp();
    let at = timestamp_of(report.recorded_at);
    let inserted = tx
        .run(
            "INSERT INTO quantity_reports (id, tenant_id, mode, operation_id, good, scrap, rework, \
             scrap_reason, material_lot, operator, recorded_at, client_event_id, created_at) \
             VALUES ($1::uuid, $2::uuid, $3::text, $4::uuid, $5, $6, $7, $8::text, $9::text, \
             $10::text, $11::timestamptz, $12::text, $13::timestamptz) ON CONFLICT DO NOTHING",
            vec![
                id.into(),
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                operation.into(),
                report.good.into(),
                report.scrap.into(),
                report.rework.into(),
                report.scrap_reason.clone().into(),
                report.material_lot.clone().into(),
                report.operator.clone().into(),
                at.as_str().into(),
                report.client_event_id.clone().into(),
                now.as_str().into(),
            ],
        )
        .await?;
    if inserted == 0 {
        // The same client_event_id committed meanwhile (for another operation: no lock held).
        return earlier(tx, scope, report, operation).await?.ok_or_else(|| {
            StoreError::Conflict("the report could not be stored; retry".to_owned())
        });
    }
    let part_updated = add_totals(tx, operation, part, report, &at, &now).await?;
    claim_parents(tx, &found, &at).await?;
    let recorded = Recorded {
        report: stored(tx, "q.id = $1::uuid", vec![id.into()])
            .await?
            .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?,
        operation: operation_progress(tx, operation).await?,
    };
    let events: Vec<NewEvent> = std::iter::once(quantity_event(&recorded))
        .chain(part_updated)
        .collect();
    let appended = append(tx, scope, &events, &now).await?;
    tx.after_commit(appended);
    Ok(Reported::Created(Box::new(recorded)))
}

/// The answer to a `client_event_id` sent before in the tenant and mode: its first report, or
/// the fields this one changes. `None` when it is new (or the report has none).
async fn earlier(
    tx: &mut dyn Tx,
    scope: Scope,
    report: &NewReport,
    operation: Uuid,
) -> Result<Option<Reported>, StoreError> {
    let Some(event_id) = &report.client_event_id else {
        return Ok(None);
    };
    let condition = "q.tenant_id = $1::uuid AND q.mode = $2::text AND q.client_event_id = $3::text";
    let args = vec![
        scope.tenant_id.into(),
        scope.mode.as_str().into(),
        event_id.as_str().into(),
    ];
    let Some(first) = stored(tx, condition, args).await? else {
        return Ok(None);
    };
    let differ = report.differences(operation, &first);
    if !differ.is_empty() {
        return Ok(Some(Reported::Mismatch(differ)));
    }
    Ok(Some(Reported::Replayed(Box::new(Recorded {
        operation: operation_progress(tx, first.operation_id).await?,
        report: first,
    }))))
}

/// Adds the report to the operation's totals and recomputes its part's ([`sum_totals`]),
/// answering the part's event if its totals changed. The operation becomes the floor's
/// (`floor_at`); its part and job do in [`claim_parents`].
async fn add_totals(
    tx: &mut dyn Tx,
    operation: Uuid,
    part: Uuid,
    report: &NewReport,
    at: &str,
    now: &str,
) -> Result<Option<NewEvent>, StoreError> {
    tx.run(
        "UPDATE operations SET quantity_good = quantity_good + $2, \
         quantity_scrap = quantity_scrap + $3, quantity_rework = quantity_rework + $4, \
         floor_at = COALESCE(floor_at, $5::timestamptz), updated_at = $6::timestamptz \
         WHERE id = $1::uuid",
        vec![
            operation.into(),
            report.good.into(),
            report.scrap.into(),
            report.rework.into(),
            at.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(sum_totals(tx, part, now).await?.map(|r| r.event()))
}

fn quantity_event(recorded: &Recorded) -> NewEvent {
    let (report, operation) = (&recorded.report, &recorded.operation);
    let mut data = serde_json::to_value(report).expect("a report serializes");
    data["quantity_good"] = operation.quantity_good.into();
    data["quantity_scrap"] = operation.quantity_scrap.into();
    data["quantity_rework"] = operation.quantity_rework.into();
    NewEvent {
        event_type: "production.quantity_reported".to_owned(),
        entity: Some("operation"),
        record_id: Some(operation.id),
        external_source: Some(operation.external_source.clone()),
        external_id: Some(operation.external_id.clone()),
        data: data.to_string(),
    }
}

/// The reports matching `condition` on `quantity_reports AS q`, oldest first.
async fn reports(
    tx: &mut dyn Tx,
    condition: &str,
    args: Vec<Arg>,
    window: &str,
) -> Result<Vec<QuantityReport>, StoreError> {
    let d = tx.dialect();
    let sql = format!(
        "SELECT CAST(q.id AS TEXT), CAST(q.operation_id AS TEXT), o.external_source, \
                o.external_id, q.good, q.scrap, q.rework, q.scrap_reason, q.material_lot, \
                q.operator, {}, q.client_event_id, {} \
         FROM quantity_reports AS q JOIN operations AS o ON o.id = q.operation_id \
         WHERE {condition} ORDER BY q.recorded_at, q.id{window}",
        d.time("q.recorded_at"),
        d.time("q.created_at"),
    );
    let rows = tx.rows(&sql, args).await?;
    rows.iter().map(report_of).collect()
}

async fn stored(
    tx: &mut dyn Tx,
    condition: &str,
    args: Vec<Arg>,
) -> Result<Option<QuantityReport>, StoreError> {
    Ok(reports(tx, condition, args, "").await?.into_iter().next())
}

fn report_of(r: &Row) -> Result<QuantityReport, StoreError> {
    Ok(QuantityReport {
        id: r.id(0)?,
        operation_id: r.id(1)?,
        external_source: r.text(2)?,
        external_id: r.text(3)?,
        good: r.int(4)?,
        scrap: r.int(5)?,
        rework: r.int(6)?,
        scrap_reason: r.opt_text(7)?,
        material_lot: r.opt_text(8)?,
        operator: r.opt_text(9)?,
        recorded_at: r.text(10)?,
        client_event_id: r.opt_text(11)?,
        created_at: r.text(12)?,
    })
}

/// The reports of an operation of the tenant, oldest first; `None` when the tenant has no live
/// operation with that id.
pub(crate) async fn list(
    tx: &mut dyn Tx,
    scope: Scope,
    operation: Uuid,
    window: Window,
) -> Result<Option<Windowed<QuantityReport>>, StoreError> {
    if !super::progress::live_operation(tx, scope, operation).await? {
        return Ok(None);
    }
    let items = reports(
        tx,
        "q.operation_id = $1::uuid",
        vec![operation.into()],
        &window.sql(),
    )
    .await?;
    let total = super::progress::count(tx, "quantity_reports", operation).await?;
    Ok(Some(Windowed { items, total }))
}
