//! What was sent to a tenant's endpoints and how it went, and sending again: a delivery by
//! hand, a test event, a replay of the log. Written once for both engines.

use std::collections::HashMap;

use serde_json::value::RawValue;
use uuid::Uuid;

use super::deliveries::{id_list, insert, insert_event};
use super::feed::{columns, read_events};
use super::tx::{Arg, Row, Statements};
use super::{timestamp, Access, Store, StoreError};
use crate::domain::delivery::{Attempt, Delivery, STATUSES};
use crate::domain::event::{new_id, TypeFilter};
use crate::domain::webhook::{filter_of, Body};
use crate::domain::Scope;

/// Events one replay sends at most.
pub const REPLAY_LIMIT: i64 = 10_000;

/// Which deliveries a reader asks for.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub webhook_id: Option<Uuid>,
    pub status: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

fn delivery_of(row: &Row) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.id(0)?,
        webhook_id: row.id(1)?,
        event_id: row.text(2)?,
        event_type: row.text(3)?,
        status: row.text(4)?,
        attempts: row.int(5)?.max(0) as u32,
        next_attempt_at: row.opt_text(6)?,
        last_error: row.opt_text(7)?,
        created_at: row.text(8)?,
        delivered_at: row.opt_text(9)?,
        payload: RawValue::from_string(row.text(10)?)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?,
        attempt_log: Vec::new(),
    })
}

/// The tenant's deliveries, newest first, each with its attempts, oldest first. Read per
/// endpoint and status, newest first (finished ones along `webhook_deliveries_by_endpoint_status`;
/// each branch stops at the page's end), and merged: sorting all of the tenant's deliveries,
/// bodies included, to answer a page took 1.65 s at 142 000 deliveries on SQLite
/// (`webhooks::deliveries_are_listed_newest_first_across_endpoints`).
pub async fn list(
    store: &dyn Store,
    scope: Scope,
    query: &DeliveryQuery,
) -> Result<Vec<Delivery>, StoreError> {
    let mut tx = store.begin(Access::Read).await?;
    let endpoints: Vec<Uuid> = match query.webhook_id {
        Some(id) => vec![id],
        None => tx
            .rows(
                "SELECT id FROM webhook_endpoints WHERE tenant_id = $1::uuid AND mode = $2::text",
                vec![scope.tenant_id.into(), scope.mode.as_str().into()],
            )
            .await?
            .iter()
            .map(|row| row.id(0))
            .collect::<Result<_, _>>()?,
    };
    // The statuses as the constants, written into the statement: only a literal lets the
    // engine use the partial index of finished deliveries.
    let statuses: Vec<&'static str> = match &query.status {
        Some(status) => STATUSES.iter().copied().filter(|s| s == status).collect(),
        None => STATUSES.to_vec(),
    };
    if endpoints.is_empty() || statuses.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let page_end = i64::from(query.offset) + i64::from(query.limit);
    let d = tx.dialect();
    let columns = format!(
        "d.id, d.endpoint_id, d.event_id, d.event_type, d.status, d.attempts, \
         CASE WHEN d.status = 'pending' THEN {} END AS next_at, d.last_error, \
         {} AS made_at, {} AS delivered, d.body",
        d.time("d.next_attempt_at"),
        d.time("d.created_at"),
        d.time("d.delivered_at"),
    );
    // One statement, so one snapshot: a delivery that turns delivered between two reads of
    // one page is not listed twice (`webhooks_shared::instances_sharing_a_database_fan_out_every_event_once`).
    let mut args: Vec<Arg> = vec![
        scope.tenant_id.into(),
        scope.mode.as_str().into(),
        page_end.into(),
    ];
    let mut branches = Vec::new();
    for endpoint in &endpoints {
        for status in &statuses {
            args.push((*endpoint).into());
            // The index's own condition, word for word: SQLite uses a partial index only for
            // a statement that states it.
            let finished = if *status == "pending" {
                ""
            } else {
                " AND d.status <> 'pending'"
            };
            branches.push(format!(
                "SELECT * FROM (SELECT {columns} \
                 FROM webhook_deliveries AS d JOIN webhook_endpoints AS w ON w.id = d.endpoint_id \
                 WHERE w.tenant_id = $1::uuid AND w.mode = $2::text AND d.endpoint_id = ${} \
                   AND d.status = '{status}'{finished} ORDER BY d.id DESC LIMIT $3) AS b{}",
                args.len(),
                branches.len()
            ));
        }
    }
    args.push(i64::from(query.limit).into());
    args.push(i64::from(query.offset).into());
    let sql = format!(
        "SELECT * FROM ({}) AS page ORDER BY id DESC LIMIT ${} OFFSET ${}",
        branches.join(" UNION ALL "),
        args.len() - 1,
        args.len()
    );
    let rows = tx.rows(&sql, args).await?;
    let mut deliveries = rows
        .iter()
        .map(delivery_of)
        .collect::<Result<Vec<_>, _>>()?;
    if !deliveries.is_empty() {
        let ids: Vec<Uuid> = deliveries.iter().map(|d| d.id).collect();
        let mut args = Vec::new();
        let list = id_list(&ids, &mut args);
        let sql = format!(
            "SELECT delivery_id, {}, http_status, error, latency_ms, response_head \
             FROM webhook_attempts WHERE delivery_id IN ({list}) ORDER BY at",
            tx.dialect().time("at")
        );
        let mut attempts: HashMap<Uuid, Vec<Attempt>> = HashMap::new();
        for row in tx.rows(&sql, args).await? {
            attempts.entry(row.id(0)?).or_default().push(Attempt {
                at: row.text(1)?,
                http_status: row.opt_int(2)?.map(|s| s.clamp(0, 999) as u16),
                error: row.opt_text(3)?,
                latency_ms: row.int(4)?.max(0) as u64,
                response: row.opt_text(5)?,
            });
        }
        for delivery in &mut deliveries {
            delivery.attempt_log = attempts.remove(&delivery.id).unwrap_or_default();
        }
    }
    tx.rollback().await?;
    Ok(deliveries)
}

/// Why a test, a retry or a replay queued nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum NotQueued {
    /// No such endpoint of the tenant, or no such delivery of it.
    NotFound,
    /// The endpoint is switched off: what was queued would not be sent until it is switched on,
    /// yet was answered "queued" (`webhooks_rules::sending_to_a_disabled_endpoint_is_a_conflict`).
    Disabled,
    /// The delivery is being sent right now.
    InFlight,
}

/// The endpoint `webhook` of the tenant, if it is switched on: its subscription.
async fn enabled(
    tx: &mut dyn Statements,
    scope: Scope,
    webhook: Uuid,
) -> Result<Result<String, NotQueued>, StoreError> {
    let row = tx
        .row(
            "SELECT events, active FROM webhook_endpoints \
             WHERE tenant_id = $1::uuid AND mode = $2::text AND id = $3",
            vec![
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                webhook.into(),
            ],
        )
        .await?;
    Ok(match row {
        None => Err(NotQueued::NotFound),
        Some(row) if row.int(1)? == 0 => Err(NotQueued::Disabled),
        Some(row) => Ok(row.text(0)?),
    })
}

/// Makes a delivery due now, whatever its status (`webhooks::retries_run_out_and_honour_retry_after`);
/// answers the event it carries.
pub async fn retry(
    store: &dyn Store,
    scope: Scope,
    webhook: Uuid,
    delivery: Uuid,
) -> Result<Result<String, NotQueued>, StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    if let Err(why) = enabled(&mut *tx, scope, webhook).await? {
        tx.rollback().await?;
        return Ok(Err(why));
    }
    let now = timestamp();
    let found = tx
        .row(
            "SELECT CASE WHEN d.status = 'pending' AND d.locked_until > $4::timestamptz THEN 1 ELSE 0 END, \
               d.event_id FROM webhook_deliveries AS d JOIN webhook_endpoints AS w ON w.id = d.endpoint_id \
             WHERE w.tenant_id = $1::uuid AND w.mode = $2::text AND w.id = $3 AND d.id = $5",
            vec![
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                webhook.into(),
                now.as_str().into(),
                delivery.into(),
            ],
        )
        .await?;
    let outcome = match found {
        None => Err(NotQueued::NotFound),
        Some(row) if row.int(0)? == 1 => Err(NotQueued::InFlight),
        Some(row) => {
            tx.run(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2::timestamptz, \
                   locked_until = NULL, delivered_at = NULL WHERE id = $1",
                vec![delivery.into(), now.into()],
            )
            .await?;
            Ok(row.text(1)?)
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Queues a `webhook.test` event to one endpoint (not written to the log, so no other endpoint
/// gets it); answers the delivery and the event.
pub async fn send_test(
    store: &dyn Store,
    scope: Scope,
    webhook: Uuid,
) -> Result<Result<(Uuid, String), NotQueued>, StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    if let Err(why) = enabled(&mut *tx, scope, webhook).await? {
        tx.rollback().await?;
        return Ok(Err(why));
    }
    let now = timestamp();
    let event_id = new_id();
    let data =
        serde_json::json!({"webhook_id": webhook, "message": "a test event from Eryxon Sync"});
    let data = RawValue::from_string(data.to_string()).expect("JSON text");
    let tenant = scope.tenant_id.hyphenated().to_string();
    let body = Body {
        id: &event_id,
        tenant_id: &tenant,
        mode: scope.mode.as_str(),
        event_type: "webhook.test",
        eryxon_event: "webhook.test",
        eryxon_type: "webhook.test",
        timestamp: &now,
        entity: None,
        record_id: None,
        external_source: None,
        external_id: None,
        data: &data,
    }
    .to_text();
    let id = insert(
        &mut *tx,
        webhook,
        &event_id,
        "webhook.test",
        0,
        None,
        body,
        &now,
    )
    .await?;
    tx.commit().await?;
    Ok(Ok((id, event_id)))
}

/// What a replay queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub queued: usize,
    /// When it stopped at [`REPLAY_LIMIT`] before the range's end: when the first event it
    /// left out occurred, the `since` of a replay that goes on from there.
    pub resume_from: Option<String>,
}

/// Events read per statement while a replay walks the log.
const REPLAY_PAGE: i64 = 1_000;

/// Sends an endpoint again the events of the log that occurred from `since` until `until`
/// matching its subscription and `types` (same event ids), at most [`REPLAY_LIMIT`]. The log
/// is walked in pages by position and filtered here, so the limit counts events queued, not
/// events read (`webhooks_rules::a_replay_counts_what_it_queues_not_what_it_reads`).
pub async fn replay(
    store: &dyn Store,
    scope: Scope,
    webhook: Uuid,
    since: &str,
    until: Option<&str>,
    types: &TypeFilter,
) -> Result<Result<Replayed, NotQueued>, StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    let subscription = match enabled(&mut *tx, scope, webhook).await? {
        Ok(events) => filter_of(&events),
        Err(why) => {
            tx.rollback().await?;
            return Ok(Err(why));
        }
    };
    let until_condition = match until {
        Some(_) => " AND occurred_at < $6::timestamptz",
        None => "",
    };
    let sql = format!(
        "SELECT {} FROM events WHERE tenant_id = $1::uuid AND mode = $2::text \
           AND occurred_at >= $3::timestamptz AND position > $4{until_condition} \
         ORDER BY position LIMIT $5",
        columns(&*tx)
    );
    let now = timestamp();
    let tenant = scope.tenant_id.hyphenated().to_string();
    let mut replayed = Replayed {
        queued: 0,
        resume_from: None,
    };
    let mut after = 0;
    'pages: loop {
        let mut args: Vec<Arg> = vec![
            scope.tenant_id.into(),
            scope.mode.as_str().into(),
            since.into(),
            after.into(),
            REPLAY_PAGE.into(),
        ];
        if let Some(until) = until {
            args.push(until.into());
        }
        let events = read_events(&mut *tx, &sql, args).await?;
        let full = events.len() as i64 == REPLAY_PAGE;
        for event in events {
            after = event.position;
            let subscribed = subscription
                .as_ref()
                .is_some_and(|f| f.matches(&event.event_type));
            if !subscribed || !types.matches(&event.event_type) {
                continue;
            }
            if replayed.queued as i64 == REPLAY_LIMIT {
                replayed.resume_from = Some(event.occurred_at);
                break 'pages;
            }
            insert_event(
                &mut *tx,
                webhook,
                (&tenant, scope.mode.as_str()),
                &event,
                &now,
            )
            .await?;
            replayed.queued += 1;
        }
        if !full {
            break;
        }
    }
    tx.commit().await?;
    Ok(Ok(replayed))
}
