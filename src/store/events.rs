//! The event log, written once for both engines: appending a change's events inside its
//! transaction and pruning old events (`feed.rs` reads it).
//!
//! Positions are given out per tenant and mode from `event_positions`; taking them locks that
//! row until the transaction ends, so a transaction that takes later positions commits later,
//! and a reader following positions never passes over an event that is yet to commit (on
//! PostgreSQL, sequences would commit out of order). Guarded by
//! `events::a_tailing_reader_sees_every_event_once`.

use super::tx::{Arg, Statements};
use super::StoreError;
use crate::domain::event::{new_id, NewEvent};
use crate::domain::Scope;

/// Rows per `INSERT` of events: 11 values each, far below either engine's limit of parameters.
const INSERT_CHUNK: usize = 200;

/// Events written in a transaction that has yet to commit: `eryxon_events_total` counts them
/// only once it has, so a rolled-back or retried transaction counts nothing twice
/// (`metrics::counters_move_with_the_traffic`).
#[derive(Debug, Default)]
#[must_use = "events are counted only once their transaction commits"]
pub struct Appended(Vec<String>);

impl Appended {
    pub(crate) fn extend(&mut self, other: Appended) {
        self.0.extend(other.0);
    }

    /// Counts the events: their transaction has committed.
    pub(crate) fn committed(self) {
        for event_type in self.0 {
            metrics::counter!("eryxon_events_total", "type" => event_type).increment(1);
        }
    }
}

/// Writes `events` in order, as of `now`, in the caller's transaction. Positions are taken
/// last, right before the caller commits, so the position row is locked as briefly as can be.
/// The caller counts the answer once it has committed.
pub(crate) async fn append(
    tx: &mut dyn Statements,
    scope: Scope,
    events: &[NewEvent],
    now: &str,
) -> Result<Appended, StoreError> {
    append_all(tx, scope, &[(events, now)]).await
}

/// A statement to run in the same transaction before the events are appended, its values
/// bound after those already in the given arguments: the SQL it answers must be an `INSERT`.
pub(crate) type Lead<'a> = &'a (dyn Fn(&mut Vec<Arg>) -> String + Sync);

/// [`append`] after running `lead`: in the same statement as the events where the engine can
/// (PostgreSQL, up to [`INSERT_CHUNK`] events), saving a round trip; first and alone elsewhere.
pub(crate) async fn append_after(
    tx: &mut dyn Statements,
    scope: Scope,
    events: &[NewEvent],
    now: &str,
    lead: Lead<'_>,
) -> Result<Appended, StoreError> {
    let events: Vec<(&NewEvent, &str)> = events.iter().map(|e| (e, now)).collect();
    if tx.dialect().data_modifying_with() && !events.is_empty() && events.len() <= INSERT_CHUNK {
        return append_in_one_statement(tx, scope, events, Some(lead)).await;
    }
    let mut args = Vec::new();
    let sql = lead(&mut args);
    tx.run(&sql, args).await?;
    append_events(tx, scope, events).await
}

/// Writes the events of several changes of one tenant and mode, in order, each change's as of
/// its time: one position update and one `INSERT` per 200 events for them all (SQLite's group
/// commit appends its group's events at once).
pub(crate) async fn append_all(
    tx: &mut dyn Statements,
    scope: Scope,
    changes: &[(&[NewEvent], &str)],
) -> Result<Appended, StoreError> {
    let events: Vec<(&NewEvent, &str)> = changes
        .iter()
        .flat_map(|(events, now)| events.iter().map(move |e| (e, *now)))
        .collect();
    append_events(tx, scope, events).await
}

async fn append_events(
    tx: &mut dyn Statements,
    scope: Scope,
    events: Vec<(&NewEvent, &str)>,
) -> Result<Appended, StoreError> {
    if events.is_empty() {
        return Ok(Appended::default());
    }
    if tx.dialect().data_modifying_with() && events.len() <= INSERT_CHUNK {
        return append_in_one_statement(tx, scope, events, None).await;
    }
    let taken = tx
        .row(
            "INSERT INTO event_positions (tenant_id, mode, last) VALUES ($1::uuid, $2::text, $3) \
             ON CONFLICT (tenant_id, mode) DO UPDATE SET last = event_positions.last + excluded.last \
             RETURNING last",
            vec![
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                (events.len() as i64).into(),
            ],
        )
        .await?
        .ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
    let first = taken.int(0)? - events.len() as i64 + 1;
    for (chunk_index, chunk) in events.chunks(INSERT_CHUNK).enumerate() {
        let mut values = Vec::with_capacity(chunk.len());
        let mut args = Vec::with_capacity(chunk.len() * 11);
        for (k, (event, now)) in chunk.iter().enumerate() {
            let position = first + (chunk_index * INSERT_CHUNK + k) as i64;
            args.extend([
                Arg::from(new_id()),
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                position.into(),
            ]);
            let n = args.len();
            let own = own_values(event, now, &mut args);
            values.push(format!(
                "(${}, ${}::uuid, ${}, ${}, {own})",
                n - 3,
                n - 2,
                n - 1,
                n
            ));
        }
        let sql = format!(
            "INSERT INTO events (id, tenant_id, mode, position, type, occurred_at, entity, \
             record_id, external_source, external_id, data) VALUES {}",
            values.join(", ")
        );
        tx.run(&sql, args).await?;
    }
    Ok(Appended(
        events.iter().map(|(e, _)| e.event_type.clone()).collect(),
    ))
}

/// PostgreSQL: runs `lead`, takes the positions and inserts up to [`INSERT_CHUNK`] events in
/// one statement, where they would take three round trips (a single PUT and a lifecycle action
/// are bound by round trips: docs/performance.md).
async fn append_in_one_statement(
    tx: &mut dyn Statements,
    scope: Scope,
    events: Vec<(&NewEvent, &str)>,
    lead: Option<Lead<'_>>,
) -> Result<Appended, StoreError> {
    let mut args: Vec<Arg> = vec![
        scope.tenant_id.into(),
        scope.mode.as_str().into(),
        (events.len() as i64).into(),
    ];
    let mut values = Vec::with_capacity(events.len());
    for (k, (event, now)) in events.iter().enumerate() {
        args.push(new_id().into());
        let id = args.len();
        let own = own_values(event, now, &mut args);
        values.push(format!("(${id}, {}, {own})", k + 1));
    }
    let lead = lead.map_or(String::new(), |lead| {
        format!("lead AS ({}), ", lead(&mut args))
    });
    let sql = format!(
        "WITH {lead}taken AS (INSERT INTO event_positions (tenant_id, mode, last) \
         VALUES ($1::uuid, $2::text, $3) ON CONFLICT (tenant_id, mode) \
         DO UPDATE SET last = event_positions.last + excluded.last RETURNING last) \
         INSERT INTO events (id, tenant_id, mode, position, type, occurred_at, entity, \
         record_id, external_source, external_id, data) \
         SELECT v.id, $1::uuid, $2::text, taken.last - $3 + v.ord, v.type, v.at, v.entity, \
         v.rid, v.src, v.ext, v.data FROM taken, (VALUES {}) \
         AS v(id, ord, type, at, entity, rid, src, ext, data)",
        values.join(", ")
    );
    tx.run(&sql, args).await?;
    Ok(Appended(
        events.iter().map(|(e, _)| e.event_type.clone()).collect(),
    ))
}

/// Binds an event's own values after `args` (type, time, entity, record id, external source and
/// id, data) and answers their placeholders, in that order, for both ways of appending.
fn own_values(event: &NewEvent, now: &str, args: &mut Vec<Arg>) -> String {
    let n = args.len();
    args.extend([
        event.event_type.as_str().into(),
        now.into(),
        Arg::Text(event.entity.map(str::to_owned)),
        Arg::Text(event.record_id.map(|id| id.hyphenated().to_string())),
        event.external_source.clone().into(),
        event.external_id.clone().into(),
        event.data.as_str().into(),
    ]);
    format!(
        "${}, ${}::timestamptz, ${}, ${}::uuid, ${}, ${}, ${}",
        n + 1,
        n + 2,
        n + 3,
        n + 4,
        n + 5,
        n + 6,
        n + 7
    )
}

/// The statements that delete the `$2` oldest events that occurred before `$1` (a stored
/// timestamp), remembering per tenant the last position pruned, so that older cursors are told
/// they expired; the last answers how many went (`retention::prune` runs them until fewer
/// than `$2` go).
pub(crate) fn prune_statements() -> [String; 2] {
    // The same rows in both statements: one order, ties broken by the unique id.
    const OLDEST: &str = "SELECT id, tenant_id, mode, position FROM events \
         WHERE occurred_at < $1::timestamptz ORDER BY occurred_at, id LIMIT $2";
    [
        format!(
            "UPDATE event_positions SET pruned_through = COALESCE((SELECT max(o.position) \
             FROM ({OLDEST}) AS o \
             WHERE o.tenant_id = event_positions.tenant_id AND o.mode = event_positions.mode), \
             pruned_through)"
        ),
        format!("DELETE FROM events WHERE id IN (SELECT o.id FROM ({OLDEST}) AS o)"),
    ]
}
