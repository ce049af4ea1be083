//! Webhook deliveries derived from the event log, written once for both engines: fanning new
//! events out to the endpoints subscribed to them, claiming due deliveries under a lease, and
//! recording how an attempt went. The HTTP call happens between a claim and its record, with
//! no transaction open (see docs/decisions/webhook-delivery.md).

use uuid::Uuid;

use super::feed::{columns, read_events};
use super::tx::{Arg, Statements};
use super::webhooks::disable;
use super::{timestamp, timestamp_of, Access, Store, StoreError};
use crate::domain::delivery::{Verdict, FAILING_DAYS};
use crate::domain::event::Event;
use crate::domain::webhook::{filter_of, Body};

pub use super::claim::{claim, refresh_statistics, Caps};

/// Events one fan-out transaction reads for an endpoint.
const FAN_OUT_BATCH: i64 = 500;

/// A delivery this instance holds the lease of, with what sending it takes. Its `Debug` leaves
/// the secrets out, so no log line can carry them (`tests::claimed_debug_hides_the_secrets`).
#[derive(Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub url: String,
    pub secret: String,
    /// The secret before a rotation, while it still signs.
    pub previous_secret: Option<String>,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("endpoint_id", &self.endpoint_id)
            .field("url", &self.url)
            .field("secret", &"<hidden>")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// How one attempt went.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the attempt started (its `webhook-timestamp`, and the time in its log).
    pub at: time::OffsetDateTime,
    /// When it ended: the wait before the next attempt counts from here.
    pub ended: time::OffsetDateTime,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    pub response_head: Option<String>,
    pub verdict: Verdict,
}

/// `ids` as `$first, $first+1, …` for an `IN (…)`, their arguments appended to `args`.
pub(crate) fn id_list(ids: &[Uuid], args: &mut Vec<Arg>) -> String {
    ids.iter()
        .map(|id| {
            args.push((*id).into());
            format!("${}", args.len())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// On PostgreSQL, what makes a claim skip rows another instance is claiming, so instances
/// share the work (`webhook_crash::two_instances_deliver_each_event_once`); SQLite has one writer and needs nothing.
pub(crate) fn skip_locked(tx: &dyn Statements, of: &str) -> String {
    if tx.dialect().lock_rows().is_empty() {
        String::new()
    } else {
        format!(" FOR UPDATE OF {of} SKIP LOCKED")
    }
}

/// Inserts a pending delivery of a logged event of the tenant (hyphenated id) and mode, its
/// body as the event's, due now.
pub(crate) async fn insert_event(
    tx: &mut dyn Statements,
    endpoint: Uuid,
    (tenant, mode): (&str, &str),
    event: &Event,
    now: &str,
) -> Result<Uuid, StoreError> {
    let record = event.record_id.map(|id| id.hyphenated().to_string());
    let body = Body::of(event, tenant, mode).to_text();
    let (id, kind) = (&event.id, &event.event_type);
    insert(tx, endpoint, id, kind, event.position, record, body, now).await
}

/// When the record's earliest pending delivery to the endpoint is next tried (`$2` the
/// endpoint, `$6` the record). By position, so that SQLite reads it off the record's own index
/// (`webhook_deliveries_pending_by_record`): a `max(next_attempt_at)` walked the endpoint's
/// whole backlog.
const HEAD_NEXT_ATTEMPT: &str = "SELECT e.next_attempt_at FROM webhook_deliveries AS e \
    WHERE e.endpoint_id = $2 AND e.record_id = $6 AND e.status = 'pending' \
    ORDER BY e.position LIMIT 1";

/// Inserts a pending delivery of `body`, due now, or when the record's earlier delivery to the
/// endpoint is next tried if that is later: it waits behind that one anyway, and a delivery
/// due but waiting is one every claim walks past (see [`record_outcome`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    tx: &mut dyn Statements,
    endpoint: Uuid,
    event_id: &str,
    event_type: &str,
    position: i64,
    record_id: Option<String>,
    body: String,
    now: &str,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let sql = format!(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, position, record_id, \
           body, status, attempts, next_attempt_at, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, 'pending', 0, \
           CASE WHEN h.at > $8::timestamptz THEN h.at ELSE $8::timestamptz END, $8::timestamptz \
         FROM (SELECT ({HEAD_NEXT_ATTEMPT}) AS at) AS h"
    );
    tx.run(
        &sql,
        vec![
            id.into(),
            endpoint.into(),
            event_id.into(),
            event_type.into(),
            position.into(),
            record_id.into(),
            body.into(),
            now.into(),
        ],
    )
    .await?;
    Ok(id)
}

/// Creates the deliveries of events committed since each active endpoint's cursor, and moves
/// the cursor in the same transaction, so an event gets one delivery per endpoint even across
/// crashes (`webhook_crash::a_killed_server_delivers_after_restart`). Answers how many.
pub async fn fan_out(store: &dyn Store) -> Result<usize, StoreError> {
    let mut tx = store.begin(Access::Read).await?;
    let behind = tx
        .rows(
            "SELECT w.id FROM webhook_endpoints AS w JOIN event_positions AS p \
               ON p.tenant_id = w.tenant_id AND p.mode = w.mode \
             WHERE w.active = 1 AND w.fanned_out_through < p.last",
            Vec::new(),
        )
        .await?;
    tx.rollback().await?;
    let mut created = 0;
    for row in behind {
        created += fan_out_endpoint(store, row.id(0)?).await?;
    }
    Ok(created)
}

async fn fan_out_endpoint(store: &dyn Store, endpoint: Uuid) -> Result<usize, StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    // Locked so two instances do not fan the same events out twice; one that finds it locked
    // leaves it to the other. How far the log was pruned is read here, before the events: see
    // below why it must not be read after them.
    let sql = format!(
        "SELECT CAST(w.tenant_id AS TEXT), w.mode, w.events, w.fanned_out_through, \
           COALESCE((SELECT p.pruned_through FROM event_positions AS p \
             WHERE p.tenant_id = w.tenant_id AND p.mode = w.mode), 0) \
         FROM webhook_endpoints AS w WHERE w.id = $1 AND w.active = 1{}",
        skip_locked(&*tx, "w")
    );
    let Some(row) = tx.row(&sql, vec![endpoint.into()]).await? else {
        tx.rollback().await?;
        return Ok(0);
    };
    let filter = filter_of(&row.text(2)?);
    let (after, pruned) = (row.int(3)?, row.int(4)?);
    if pruned > after {
        // The endpoint was off past the retention, and the events after its cursor up to
        // `pruned` are gone: say so, it is data the receiver lost (README Webhooks;
        // docs/deploy.md). Said whether or not newer events follow
        // (`retention::events_pruned_while_an_endpoint_is_off_are_logged`).
        tracing::warn!(
            %endpoint,
            from = after + 1,
            through = pruned,
            "endpoint was off while events it had not been sent were pruned; it is sent \
             what came after them"
        );
    }
    let (tenant, mode) = (row.text(0)?, row.text(1)?);
    let sql = format!(
        "SELECT {} FROM events WHERE tenant_id = $1::uuid AND mode = $2::text AND position > $3 \
         ORDER BY position LIMIT $4",
        columns(&*tx)
    );
    let events = read_events(
        &mut *tx,
        &sql,
        vec![
            tenant.clone().into(),
            mode.clone().into(),
            after.into(),
            FAN_OUT_BATCH.into(),
        ],
    )
    .await?;
    let now = timestamp();
    let mut created = 0;
    let mut through = after;
    let none = events.is_empty();
    for event in events {
        through = event.position;
        if !filter
            .as_ref()
            .is_some_and(|f| f.matches(&event.event_type))
        {
            continue;
        }
        insert_event(&mut *tx, endpoint, (&tenant, &mode), &event, &now).await?;
        created += 1;
    }
    if none {
        // Nothing after the cursor: either the events behind it were pruned (the endpoint was
        // off for longer than the log keeps them), so move past the pruned ones or it would
        // look behind forever; or another instance fanned them out after `fan_out` looked.
        // Never move to `event_positions.last`: on PostgreSQL (READ COMMITTED) it was read by a
        // later statement than the events, and counted events committed in between, which were
        // then never delivered. `pruned_through`, read before the events, only passes events
        // that are gone (`webhooks_shared::instances_sharing_a_database_fan_out_every_event_once`).
        through = after.max(pruned);
    }
    tx.run(
        "UPDATE webhook_endpoints SET fanned_out_through = $2 WHERE id = $1",
        vec![endpoint.into(), through.into()],
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Gives back the leases of claimed deliveries that were not sent, so they are due again now.
pub async fn release(store: &dyn Store, unsent: &[Claimed]) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = unsent.iter().map(|d| d.id).collect();
    let mut args = Vec::new();
    let list = id_list(&ids, &mut args);
    let mut tx = store.begin(Access::Write).await?;
    tx.run(
        &format!("UPDATE webhook_deliveries SET locked_until = NULL WHERE id IN ({list})"),
        args,
    )
    .await?;
    tx.commit().await
}

/// Records an attempt and what follows from it: delivered, due again later, failed, or the
/// endpoint disabled. An endpoint with nothing but failures for [`FAILING_DAYS`] is disabled.
pub async fn record(
    store: &dyn Store,
    claimed: &Claimed,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    let mut tx = store.begin(Access::Write).await?;
    let at = timestamp_of(outcome.at);
    let error = outcome.error.clone();
    let (status, next, delivered_at) = match &outcome.verdict {
        Verdict::Delivered => ("delivered", at.clone(), Some(at.clone())),
        // From the end, not the start: after a 15 s timeout a 5 s wait counted from the start
        // was long over, and a hung receiver was called again at once
        // (`webhooks_backoff::the_retry_wait_counts_from_the_end_of_a_slow_attempt`).
        Verdict::Retry(wait) => ("pending", timestamp_of(outcome.ended + *wait), None),
        Verdict::Failed | Verdict::Disable => ("failed", at.clone(), None),
    };
    let changed = tx
        .run(
            "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, \
               next_attempt_at = $3::timestamptz, locked_until = NULL, last_error = $4, \
               delivered_at = $5::timestamptz, last_attempt_at = $6::timestamptz \
             WHERE id = $1 AND status = 'pending'",
            vec![
                claimed.id.into(),
                status.into(),
                next.as_str().into(),
                error.clone().into(),
                delivered_at.into(),
                at.as_str().into(),
            ],
        )
        .await?;
    if changed == 0 {
        // Deleted with its endpoint meanwhile, or retried by hand and sent by another lease.
        tx.rollback().await?;
        return Ok(());
    }
    tx.run(
        "INSERT INTO webhook_attempts (delivery_id, at, http_status, error, latency_ms, response_head) \
         VALUES ($1, $2::timestamptz, $3, $4, $5, $6)",
        vec![
            claimed.id.into(),
            at.as_str().into(),
            Arg::Int(outcome.http_status.map(i64::from)),
            error.into(),
            (outcome.latency_ms as i64).into(),
            outcome.response_head.clone().into(),
        ],
    )
    .await?;
    match &outcome.verdict {
        Verdict::Retry(_) => follow(&mut *tx, claimed.id, &next, Follow::Wait).await?,
        // Sent (perhaps early, by a hand-made retry) or given up: what waited behind it goes.
        Verdict::Delivered | Verdict::Failed => {
            follow(&mut *tx, claimed.id, &at, Follow::Release).await?;
        }
        Verdict::Disable => {}
    }
    let endpoint: Arg = claimed.endpoint_id.into();
    match &outcome.verdict {
        Verdict::Delivered => {
            // Only when set: every delivery otherwise rewrote (and locked) the endpoint's row,
            // which concurrent records then queued on (decision 0026).
            tx.run(
                "UPDATE webhook_endpoints SET failing_since = NULL \
                 WHERE id = $1 AND failing_since IS NOT NULL",
                vec![endpoint],
            )
            .await?;
        }
        Verdict::Disable => {
            disable(
                &mut *tx,
                claimed.endpoint_id,
                "the receiver answered 410 Gone",
            )
            .await?;
        }
        Verdict::Retry(_) | Verdict::Failed => {
            let since = timestamp_of(outcome.at - time::Duration::days(FAILING_DAYS));
            let stale = tx
                .row(
                    "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2::timestamptz) \
                     WHERE id = $1 RETURNING CASE WHEN failing_since <= $3::timestamptz THEN 1 ELSE 0 END",
                    vec![endpoint, at.as_str().into(), since.into()],
                )
                .await?;
            if stale.is_some_and(|row| row.int(0).unwrap_or(0) == 1) {
                let reason = format!("every attempt failed for {FAILING_DAYS} days");
                disable(&mut *tx, claimed.endpoint_id, &reason).await?;
            }
        }
    }
    tx.commit().await?;
    // Counted once the attempt is on record (`metrics::webhook_metrics_follow_deliveries`).
    let result = match &outcome.verdict {
        Verdict::Delivered => "delivered",
        Verdict::Retry(_) => "retry",
        Verdict::Failed => "failed",
        Verdict::Disable => "disabled",
    };
    metrics::counter!("eryxon_webhook_deliveries_total", "result" => result).increment(1);
    Ok(())
}

/// What a record's later deliveries to the endpoint do when its earliest one is answered.
enum Follow {
    /// It waits for a retry: they wait until then too.
    Wait,
    /// It is done: those that were waiting on it (never tried themselves) are due now.
    Release,
}

/// Keeps the record's later deliveries to the endpoint in step with `head`, its earliest. They
/// wait for it in any case (a record's events arrive in order); left due while it waited for a
/// retry, every claim and every tick walked past each of them: with a receiver down and two
/// events per record for 15 000 records, the server used a whole core with nothing due (1 %
/// now), and caught up at 154 deliveries/s once it was back (897 now). Released when it is
/// done, also early by a hand-made retry
/// (`webhooks_backoff::deliveries_waiting_behind_a_retry_cost_a_tick_nothing`).
async fn follow(
    tx: &mut dyn Statements,
    head: Uuid,
    at: &str,
    follow: Follow,
) -> Result<(), StoreError> {
    let (moved, which) = match follow {
        Follow::Wait => ("next_attempt_at < $2::timestamptz", ""),
        Follow::Release => ("next_attempt_at > $2::timestamptz", "AND attempts = 0"),
    };
    // The time is compared in the CASE, not the WHERE: there SQLite walked the endpoint's
    // whole backlog by the `webhook_deliveries_pending_by_endpoint` index instead of the
    // record's few.
    let sql = format!(
        "UPDATE webhook_deliveries SET next_attempt_at = \
           CASE WHEN {moved} THEN $2::timestamptz ELSE next_attempt_at END \
         WHERE status = 'pending' AND id <> $1 {which} \
           AND endpoint_id = (SELECT h.endpoint_id FROM webhook_deliveries AS h WHERE h.id = $1) \
           AND record_id = (SELECT h.record_id FROM webhook_deliveries AS h WHERE h.id = $1)"
    );
    tx.run(&sql, vec![head.into(), at.into()]).await?;
    Ok(())
}

/// When the oldest delivery still to be sent was made (as stored), across tenants: the
/// `eryxon_webhook_oldest_pending_seconds` gauge, sampled when Prometheus scrapes.
pub async fn oldest_pending(store: &dyn Store) -> Result<Option<String>, StoreError> {
    let mut statements = store.autocommit(Access::Read);
    // SQLite keeps no statistics, and without them it chose the status index and sorted every
    // pending delivery at each scrape (80 ms at 100 000 in a test build).
    let d = statements.dialect();
    let sql = format!(
        "SELECT {} FROM webhook_deliveries{} WHERE status = 'pending' ORDER BY created_at LIMIT 1",
        d.time("created_at"),
        d.indexed_by("webhook_deliveries_pending_since")
    );
    match statements.row(&sql, Vec::new()).await? {
        Some(row) => row.opt_text(0),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_debug_hides_the_secrets() {
        let claimed = Claimed {
            id: Uuid::nil(),
            endpoint_id: Uuid::nil(),
            url: "https://erp.example/hook".into(),
            secret: "whsec_current".into(),
            previous_secret: Some("whsec_previous".into()),
            event_id: "evt".into(),
            event_type: "job.created".into(),
            body: "{}".into(),
            attempts: 0,
        };
        let shown = format!("{claimed:?}");
        assert!(!shown.contains("whsec_"), "{shown}");
    }
}
