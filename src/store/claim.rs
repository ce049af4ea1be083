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

/// The most sends in flight, across instances, to one endpoint and to one tenant's endpoints.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub per_endpoint: usize,
    /// So that one tenant's receivers that never answer (each send held for its 15 s timeout)
    /// cannot hold every send of the instance and delay every other tenant's
    /// (`webhook_retries::one_tenants_stuck_receivers_do_not_delay_another_tenant`).
    pub per_tenant: usize,
}

/// Takes up to `limit` due deliveries within `caps`, and leases them for `lease`: until then
/// no instance takes them again; a crash lets the lease run out and the delivery is sent
/// again, with the same `webhook-id`.
///
/// A delivery waits while an earlier one of the same record to the same endpoint is pending,
/// so a record's events arrive in order (`webhooks::a_records_events_arrive_in_order`).
pub async fn claim(
    store: &dyn Store,
    limit: usize,
    caps: Caps,
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
    let open = room(&mut *tx, &now_text, caps).await?;
    let mut any = false;
    for endpoint in open.free.keys() {
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
    let room = room(&mut *tx, &now_text, caps).await?;
    let wanted = limit.min(room.total_free());
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
    let mut open: Vec<(Uuid, usize)> = room.free.iter().map(|(e, free)| (*e, *free)).collect();
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
        "SELECT c.id, c.endpoint_id FROM ({}) AS c ORDER BY c.next_attempt_at, c.position \
         LIMIT ${}",
        branches.join(" UNION ALL "),
        args.len()
    );
    // Each endpoint's branch is within its own room; a tenant's endpoints together are held
    // to the tenant's here, the earliest due first.
    let mut tenant_free = room.tenant_free.clone();
    let mut chosen = Vec::new();
    for row in &tx.rows(&sql, args).await? {
        let tenant = room.tenant_of[&row.id(1)?];
        let free = tenant_free
            .get_mut(&tenant)
            .expect("every open endpoint's tenant");
        if *free > 0 {
            *free -= 1;
            chosen.push(row.id(0)?);
        }
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
    /// Free slots of each active endpoint that can take more (its tenant's too).
    free: HashMap<Uuid, usize>,
    tenant_of: HashMap<Uuid, Uuid>,
    /// Free slots of each tenant with an endpoint in `free`.
    tenant_free: HashMap<Uuid, usize>,
}

impl Room {
    /// Free slots over all open endpoints, each tenant's held to its own.
    fn total_free(&self) -> usize {
        let mut per_tenant: HashMap<Uuid, usize> = HashMap::new();
        for (endpoint, free) in &self.free {
            *per_tenant.entry(self.tenant_of[endpoint]).or_default() += free;
        }
        per_tenant
            .iter()
            .map(|(tenant, free)| (*free).min(self.tenant_free[tenant]))
            .sum()
    }
}

/// Two plain reads instead of one join, so neither can be planned as a walk over every pending
/// delivery: the endpoints (few), and the leased deliveries (at most the sends in flight, found
/// by the `webhook_deliveries_leased` index). The lease alone says a send is in flight: every
/// write that ends a send or re-queues a delivery clears it. Counted here, not by the database:
/// a `status = 'pending'` term or a `GROUP BY` let SQLite walk every pending delivery by
/// another index instead, 60–260 ms a tick at 100 000
/// (`webhook_retries::a_paused_endpoints_backlog_costs_a_tick_nothing`).
async fn room(tx: &mut dyn Statements, now: &str, caps: Caps) -> Result<Room, StoreError> {
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
    let mut endpoints = Vec::new();
    let mut tenant_busy: HashMap<Uuid, usize> = HashMap::new();
    for row in tx
        .rows(
            "SELECT id, active, tenant_id FROM webhook_endpoints",
            Vec::new(),
        )
        .await?
    {
        let (id, tenant) = (row.id(0)?, row.id(2)?);
        let busy = in_flight.get(&id).copied().unwrap_or(0);
        *tenant_busy.entry(tenant).or_default() += busy;
        endpoints.push((id, row.int(1)? == 1, tenant, busy));
    }
    let mut room = Room {
        free: HashMap::new(),
        tenant_of: HashMap::new(),
        tenant_free: HashMap::new(),
    };
    for (id, active, tenant, busy) in endpoints {
        let tenant_free = caps.per_tenant.saturating_sub(tenant_busy[&tenant]);
        // Off, or it or its tenant at the limit: it takes nothing now.
        if !active || busy >= caps.per_endpoint || tenant_free == 0 {
            continue;
        }
        room.free
            .insert(id, (caps.per_endpoint - busy).min(tenant_free));
        room.tenant_of.insert(id, tenant);
        room.tenant_free.insert(tenant, tenant_free);
    }
    Ok(room)
}

/// Leases `chosen` until `now + lease` and reads what sending them takes.
///
/// A chosen delivery whose earlier lease ran out was claimed by a server that stopped (or lost
/// its database) before it recorded how the send went: the receiver may have had it. That
/// attempt goes into the delivery's log as cut off, counted, so the history shows both sends
/// of the one `webhook-id` (`webhook_crash::a_killed_server_delivers_after_restart`).
async fn lease_and_read(
    tx: &mut dyn Statements,
    chosen: &[Uuid],
    now: time::OffsetDateTime,
    lease: Duration,
) -> Result<Vec<Claimed>, StoreError> {
    let now_text = timestamp_of(now);
    let mut args: Vec<Arg> = vec![now_text.as_str().into()];
    let list = id_list(chosen, &mut args);
    let rows = tx
        .rows(
            &format!(
                "SELECT d.id, d.endpoint_id, w.url, w.secret, \
                   CASE WHEN w.previous_until > $1::timestamptz THEN w.previous_secret END, \
                   d.event_id, d.event_type, d.body, d.attempts, {} \
                 FROM webhook_deliveries AS d JOIN webhook_endpoints AS w ON w.id = d.endpoint_id \
                 WHERE d.id IN ({list}) ORDER BY d.position",
                tx.dialect().time("d.locked_until")
            ),
            args,
        )
        .await?;
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
    let mut claimed = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut delivery = Claimed {
            id: row.id(0)?,
            endpoint_id: row.id(1)?,
            url: row.text(2)?,
            secret: row.text(3)?,
            previous_secret: row.opt_text(4)?,
            event_id: row.text(5)?,
            event_type: row.text(6)?,
            body: row.text(7)?,
            attempts: row.int(8)?.max(0) as u32,
        };
        if let Some(lapsed) = row.opt_text(9)? {
            record_cut_off(tx, &delivery, &lapsed, lease).await?;
            delivery.attempts += 1;
        }
        claimed.push(delivery);
    }
    Ok(claimed)
}

/// What a send whose lease ran out says in the delivery's log.
pub const CUT_OFF: &str = "cut off: how this send went was never recorded (the server \
    sending it stopped, or lost its database); the receiver may have it, and it is sent again \
    with the same webhook-id";

/// Logs the send cut off under a lease that ran out at `lapsed`, as an attempt made when that
/// lease was taken.
async fn record_cut_off(
    tx: &mut dyn Statements,
    delivery: &Claimed,
    lapsed: &str,
    lease: Duration,
) -> Result<(), StoreError> {
    let at = timestamp_of(super::floor::parse_stored(lapsed)? - lease);
    tracing::warn!(
        delivery = %delivery.id,
        endpoint = %delivery.endpoint_id,
        event = %delivery.event_id,
        "a webhook send was cut off before its answer was recorded; sending it again"
    );
    tx.run(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $2, \
           last_attempt_at = $3::timestamptz WHERE id = $1",
        vec![delivery.id.into(), CUT_OFF.into(), at.as_str().into()],
    )
    .await?;
    tx.run(
        "INSERT INTO webhook_attempts (delivery_id, at, http_status, error, latency_ms, response_head) \
         VALUES ($1, $2::timestamptz, NULL, $3, 0, NULL)",
        vec![delivery.id.into(), at.as_str().into(), CUT_OFF.into()],
    )
    .await?;
    Ok(())
}
