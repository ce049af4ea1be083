//! How a tenant's endpoints stand, for the console's overview and webhooks page: deliveries
//! waiting or given up, the last attempt, and the events a switched-off endpoint has not been
//! handed yet. Written once for both engines.

use std::collections::HashMap;

use uuid::Uuid;

use super::feed::type_condition;
use super::tx::{Arg, Statements};
use super::{Access, Store, StoreError};
use crate::domain::delivery::Attempt;
use crate::domain::webhook::filter_of;
use crate::domain::Scope;

/// Events after a switched-off endpoint's place in the log read at most to count what it is
/// held back: a page view costs a bounded read however long the pause (a count that reached it
/// shows as "at least").
pub const HELD_SCAN: i64 = 100_000;

/// How one endpoint's deliveries stand: the console's overview and webhooks page.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// For a switched-off endpoint (paused by a user or disabled by the server), the events of
    /// its subscription logged after its place in the log: they become deliveries only when it
    /// is switched on, so `pending` does not count them
    /// (`console_webhooks::a_paused_endpoint_shows_what_it_is_held_back`).
    pub held: Option<Held>,
    /// Deliveries still to be sent.
    pub pending: u64,
    /// Deliveries whose retries ran out, waiting for someone to send them again.
    pub failed: u64,
    /// When the oldest delivery not delivered (pending or failed) was made, as stored: how
    /// long the receiver has been missing an event.
    pub oldest_undelivered: Option<String>,
    /// The endpoint's newest attempt, with its delivery's status now.
    pub last_attempt: Option<(String, Attempt)>,
}

/// The events a switched-off endpoint has not been handed yet.
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// How many, counted over at most [`HELD_SCAN`] events of the log.
    pub events: u64,
    /// The count stopped at [`HELD_SCAN`] events of the log: there may be more.
    pub at_least: bool,
    /// When the oldest of them occurred.
    pub oldest: Option<String>,
}

/// Every endpoint of the tenant's [`Health`], by endpoint id; an endpoint that was never sent
/// anything has none. Counts read the undelivered rows only (the endpoint index's prefix),
/// so a long delivered history costs nothing (`console_webhooks::the_webhooks_page_is_scoped_and_guarded`, on each engine).
pub async fn health(store: &dyn Store, scope: Scope) -> Result<HashMap<Uuid, Health>, StoreError> {
    let mut tx = store.begin(Access::Read).await?;
    let d = tx.dialect();
    let tenant = || -> Vec<Arg> { vec![scope.tenant_id.into(), scope.mode.as_str().into()] };
    let counts = format!(
        "SELECT s.endpoint_id, s.pending, s.failed, {} FROM (\
           SELECT d.endpoint_id AS endpoint_id, \
             SUM(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END) AS pending, \
             SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) AS failed, \
             MIN(d.created_at) AS oldest \
           FROM webhook_deliveries AS d JOIN webhook_endpoints AS w ON w.id = d.endpoint_id \
           WHERE w.tenant_id = $1::uuid AND w.mode = $2::text AND d.status IN ('pending', 'failed') \
           GROUP BY d.endpoint_id) AS s",
        d.time("s.oldest")
    );
    let last = format!(
        "SELECT d.status, {}, a.http_status, a.error, a.latency_ms, a.response_head \
         FROM webhook_attempts AS a JOIN webhook_deliveries AS d ON d.id = a.delivery_id \
         WHERE d.id = (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 \
             AND last_attempt_at IS NOT NULL ORDER BY last_attempt_at DESC LIMIT 1) \
         ORDER BY a.at DESC LIMIT 1",
        d.time("a.at")
    );
    let mut found: HashMap<Uuid, Health> = HashMap::new();
    for row in tx.rows(&counts, tenant()).await? {
        found.insert(
            row.id(0)?,
            Health {
                pending: row.int(1)?.max(0) as u64,
                failed: row.int(2)?.max(0) as u64,
                oldest_undelivered: row.opt_text(3)?,
                last_attempt: None,
                held: None,
            },
        );
    }
    let endpoints = tx
        .rows(
            "SELECT id, active, events, fanned_out_through FROM webhook_endpoints \
             WHERE tenant_id = $1::uuid AND mode = $2::text",
            tenant(),
        )
        .await?;
    for endpoint in endpoints {
        // The id came from the tenant's own rows, so the attempt is the tenant's.
        let id = endpoint.id(0)?;
        if endpoint.int(1)? == 0 {
            let (events, after) = (endpoint.text(2)?, endpoint.int(3)?);
            let held = held(&mut *tx, scope, &events, after).await?;
            found.entry(id).or_default().held = Some(held);
        }
        if let Some(row) = tx.row(&last, vec![id.into()]).await? {
            let attempt = Attempt {
                at: row.text(1)?,
                http_status: row.opt_int(2)?.map(|s| s.clamp(0, 999) as u16),
                error: row.opt_text(3)?,
                latency_ms: row.int(4)?.max(0) as u64,
                response: row.opt_text(5)?,
            };
            found.entry(id).or_default().last_attempt = Some((row.text(0)?, attempt));
        }
    }
    tx.rollback().await?;
    Ok(found)
}

/// The events of the subscription `events` logged after position `after`.
async fn held(
    tx: &mut dyn Statements,
    scope: Scope,
    events: &str,
    after: i64,
) -> Result<Held, StoreError> {
    let Some(filter) = filter_of(events) else {
        return Ok(Held::default());
    };
    let mut args: Vec<Arg> = vec![
        scope.tenant_id.into(),
        scope.mode.as_str().into(),
        after.into(),
        HELD_SCAN.into(),
    ];
    let matches = type_condition(&filter, &mut args).unwrap_or_else(|| "1 = 1".to_owned());
    let sql = format!(
        "SELECT COALESCE(SUM(h.m), 0), COUNT(*), {} FROM (\
           SELECT CASE WHEN {matches} THEN 1 ELSE 0 END AS m, occurred_at FROM events \
           WHERE tenant_id = $1::uuid AND mode = $2::text AND position > $3 \
           ORDER BY position LIMIT $4) AS h",
        tx.dialect()
            .time("MIN(CASE WHEN h.m = 1 THEN h.occurred_at END)")
    );
    // An aggregate answers one row, whatever it read.
    let Some(row) = tx.row(&sql, args).await? else {
        return Ok(Held::default());
    };
    Ok(Held {
        events: row.int(0)?.max(0) as u64,
        at_least: row.int(1)? >= HELD_SCAN,
        oldest: row.opt_text(2)?,
    })
}

/// How many endpoints, across tenants, are switched on, paused by a user, and disabled by
/// the server after failing: the `eryxon_webhook_endpoints{state}` gauge, sampled when
/// Prometheus scrapes (`metrics::webhook_metrics_follow_deliveries`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStates {
    pub active: u64,
    pub paused: u64,
    pub disabled: u64,
}

pub async fn endpoint_states(store: &dyn Store) -> Result<EndpointStates, StoreError> {
    let mut statements = store.autocommit(Access::Read);
    let rows = statements
        .rows(
            "SELECT active, CASE WHEN disabled_reason IS NULL THEN 0 ELSE 1 END, COUNT(*) \
             FROM webhook_endpoints GROUP BY 1, 2",
            Vec::new(),
        )
        .await?;
    let mut states = EndpointStates::default();
    for row in rows {
        let n = row.int(2)?.max(0) as u64;
        match (row.int(0)? != 0, row.int(1)? != 0) {
            (true, _) => states.active += n,
            (false, false) => states.paused += n,
            (false, true) => states.disabled += n,
        }
    }
    Ok(states)
}
