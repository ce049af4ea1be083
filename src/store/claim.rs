//! Claiming due webhook deliveries under a lease, written once for both engines.
//!
//! The queries are shaped so that one plan is the sensible one whatever the planner believes
//! about the table: right after a burst, PostgreSQL's statistics still describe an empty table,
//! and a join from the endpoints let it sort every pending delivery on each claim (decision
//! 0026, bench group `webhooks`).

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use super::deliveries::{id_list, skip_locked, Claimed};
use super::tx::{Arg, Statements};
use super::{timestamp_of, Access, Store, StoreError};

/// Refreshes the planner's statistics of the deliveries. Between bursts every delivery is
/// `delivered`; statistics taken then make PostgreSQL expect no pending delivery, and it plans
/// the claim's order check as a scan of every pending delivery per candidate: 0.5 s per claim
/// at 1 000 pending, 13 s at 5 000, until autovacuum's next look (`auto_explain`, decision
/// 0026). The worker calls this after fanning out a burst, so the plans follow the table.
pub async fn refresh_statistics(store: &dyn Store) -> Result<(), StoreError> {
    let mut statements = store.autocommit(Access::Bookkeeping);
    if let Some(sql) = statements.dialect().analyze("webhook_deliveries") {
        statements.run(&sql, Vec::new()).await?;
    }
    Ok(())
}

/// What a delivery must be to be sent now: pending, due, not leased, and not behind an earlier
/// pending delivery of the same record to the same endpoint. `$1` is now.
const SENDABLE: &str = "d.status = 'pending' AND d.next_attempt_at <= $1::timestamptz \
    AND (d.locked_until IS NULL OR d.locked_until <= $1::timestamptz) \
    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS e WHERE e.endpoint_id = d.endpoint_id \
      AND e.record_id = d.record_id AND e.status = 'pending' AND e.position < d.position)";

/// Takes up to `limit` due deliveries, at most `per_endpoint` in flight for any endpoint, and
/// leases them for `lease`: until then no instance takes them again; a crash lets the lease
/// run out and the delivery is sent again, with the same `webhook-id`.
///
/// A delivery waits while an earlier one of the same record to the same endpoint is pending,
/// so a record's events arrive in order (`webhooks::a_records_events_arrive_in_order`).
pub async fn claim(
    store: &dyn Store,
    limit: usize,
    per_endpoint: usize,
    lease: Duration,
) -> Result<Vec<Claimed>, StoreError> {
    let now = time::OffsetDateTime::now_utc();
    let now_text = timestamp_of(now);
    if limit == 0 {
        return Ok(Vec::new());
    }
    // A cheap look first, so an idle server does not take SQLite's write lock every tick. It
    // looks only at the endpoints that are on and have room: a paused endpoint's backlog of
    // due deliveries is never walked, where a join from every pending delivery cost seconds
    // per tick at 200 000 of them
    // (`webhook_retries::a_paused_endpoints_backlog_costs_a_tick_nothing`).
    let mut tx = store.begin(Access::Read).await?;
    let open = room(&mut *tx, &now_text, per_endpoint).await?;
    let mut any = false;
    for endpoint in open.in_flight.keys() {
        // One endpoint at a time: an `IN` list of them let SQLite walk every due delivery by
        // the `webhook_deliveries_due` index, the paused endpoints' too.
        let sql = format!(
            "SELECT d.id FROM webhook_deliveries AS d WHERE d.endpoint_id = $2 AND {SENDABLE} \
             LIMIT 1"
        );
        let args = vec![now_text.as_str().into(), (*endpoint).into()];
        if tx.row(&sql, args).await?.is_some() {
            any = true;
            break;
        }
    }
    tx.rollback().await?;
    if !any {
        return Ok(Vec::new());
    }
    let mut tx = store.begin(Access::Write).await?;
    let room = room(&mut *tx, &now_text, per_endpoint).await?;
    let wanted = limit.min(room.free);
    if wanted == 0 {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    // Each open endpoint's own earliest due deliveries, as many as it has room for, in one
    // statement: taken from the due deliveries of every endpoint together, the oldest
    // backlog filled every candidate slot and an endpoint behind it got nothing for minutes
    // (`webhook_retries::a_backlog_of_one_endpoint_does_not_hold_up_the_others`). On
    // PostgreSQL every candidate is locked, so there are no more of them than can be taken
    // (decision 0026).
    let mut args: Vec<Arg> = vec![now_text.as_str().into()];
    let mut open: Vec<(Uuid, usize)> = room
        .in_flight
        .iter()
        .map(|(endpoint, busy)| (*endpoint, per_endpoint - busy))
        .collect();
    open.sort();
    let lock = skip_locked(&*tx, "d");
    let branches: Vec<String> = open
        .iter()
        .map(|(endpoint, free)| {
            args.push((*endpoint).into());
            let endpoint = args.len();
            args.push((*free as i64).into());
            format!(
                "SELECT * FROM (SELECT d.id, d.endpoint_id, d.next_attempt_at, d.position \
                 FROM webhook_deliveries AS d WHERE d.endpoint_id = ${endpoint} AND {SENDABLE} \
                 ORDER BY d.next_attempt_at, d.position LIMIT ${}{lock}) AS e{endpoint}",
                endpoint + 1
            )
        })
        .collect();
    args.push((wanted as i64).into());
    let sql = format!(
        "SELECT c.id FROM ({}) AS c ORDER BY c.next_attempt_at, c.position LIMIT ${}",
        branches.join(" UNION ALL "),
        args.len()
    );
    let mut chosen = Vec::new();
    for row in &tx.rows(&sql, args).await? {
        chosen.push(row.id(0)?);
    }
    if chosen.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let claimed = lease_and_read(&mut *tx, &chosen, now, lease).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// What the endpoints can take now.
struct Room {
    /// Sends in flight per endpoint that can take more.
    in_flight: HashMap<Uuid, usize>,
    /// Free slots over all active endpoints.
    free: usize,
}

/// Two plain reads instead of one join, so neither can be planned as a walk over every pending
/// delivery: the endpoints (few), and the leased deliveries (at most the sends in flight, found
/// by the `webhook_deliveries_leased` index). The lease alone says a send is in flight: every
/// write that ends a send or re-queues a delivery clears it. Counted here, not by the database:
/// a `status = 'pending'` term or a `GROUP BY` let SQLite walk every pending delivery by
/// another index instead, 60–260 ms a tick at 100 000
/// (`webhook_retries::a_paused_endpoints_backlog_costs_a_tick_nothing`).
async fn room(tx: &mut dyn Statements, now: &str, per_endpoint: usize) -> Result<Room, StoreError> {
    let mut in_flight: HashMap<Uuid, usize> = HashMap::new();
    for row in tx
        .rows(
            "SELECT endpoint_id FROM webhook_deliveries WHERE locked_until > $1::timestamptz",
            vec![now.into()],
        )
        .await?
    {
        *in_flight.entry(row.id(0)?).or_default() += 1;
    }
    let mut room = Room {
        in_flight: HashMap::new(),
        free: 0,
    };
    for row in tx
        .rows("SELECT id, active FROM webhook_endpoints", Vec::new())
        .await?
    {
        let id = row.id(0)?;
        let busy = in_flight.get(&id).copied().unwrap_or(0);
        // Off, or at its limit: it takes nothing now.
        if row.int(1)? != 1 || busy >= per_endpoint {
            continue;
        }
        room.free += per_endpoint - busy;
        room.in_flight.insert(id, busy);
    }
    Ok(room)
}

/// Leases `chosen` until `now + lease` and reads what sending them takes.
async fn lease_and_read(
    tx: &mut dyn Statements,
    chosen: &[Uuid],
    now: time::OffsetDateTime,
    lease: Duration,
) -> Result<Vec<Claimed>, StoreError> {
    let now_text = timestamp_of(now);
    let until = timestamp_of(now + lease);
    let mut args: Vec<Arg> = vec![until.into()];
    let list = id_list(chosen, &mut args);
    tx.run(
        &format!(
            "UPDATE webhook_deliveries SET locked_until = $1::timestamptz WHERE id IN ({list})"
        ),
        args,
    )
    .await?;
    let mut args: Vec<Arg> = vec![now_text.as_str().into()];
    let list = id_list(chosen, &mut args);
    let rows = tx
        .rows(
            &format!(
                "SELECT d.id, d.endpoint_id, w.url, w.secret, \
                   CASE WHEN w.previous_until > $1::timestamptz THEN w.previous_secret END, \
                   d.event_id, d.event_type, d.body, d.attempts \
                 FROM webhook_deliveries AS d JOIN webhook_endpoints AS w ON w.id = d.endpoint_id \
                 WHERE d.id IN ({list}) ORDER BY d.position"
            ),
            args,
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Claimed {
                id: row.id(0)?,
                endpoint_id: row.id(1)?,
                url: row.text(2)?,
                secret: row.text(3)?,
                previous_secret: row.opt_text(4)?,
                event_id: row.text(5)?,
                event_type: row.text(6)?,
                body: row.text(7)?,
                attempts: row.int(8)?.max(0) as u32,
            })
        })
        .collect()
}
