//! The event log, written once for both engines: appending a change's events inside its
//! transaction, reading the feed, pruning old events.
//!
//! Positions are given out per tenant and mode from `event_positions`; taking them locks that
//! row until the transaction ends, so a transaction that takes later positions commits later,
//! and a reader following positions never passes over an event that is yet to commit (on
//! PostgreSQL, sequences would commit out of order). Guarded by
//! `events::a_tailing_reader_sees_every_event_once`.

use serde_json::value::RawValue;
use uuid::Uuid;

use super::tx::{Arg, Row, Statements};
use super::StoreError;
use crate::domain::event::{new_id, Event, NewEvent, TypeFilter};
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

/// What a feed reader asks for.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// The position after which to read; `None` from the oldest kept event.
    pub after: Option<i64>,
    pub types: TypeFilter,
    pub entity: Option<String>,
    pub external_source: Option<String>,
    pub limit: u32,
    /// Newest first, from the newest kept event (`after` then only bounds the page from
    /// below); the console reads the log this way.
    pub newest_first: bool,
    /// Only events before this position (with `newest_first`, to page back).
    pub before: Option<i64>,
}

/// One page of the feed.
#[derive(Debug)]
pub enum Feed {
    Page {
        events: Vec<Event>,
        /// The position to read after next time: the last event's, or the one asked for.
        next: i64,
        has_more: bool,
    },
    /// The cursor names events already pruned: the reader missed some.
    Expired,
    /// The cursor is past the newest position this log gave out (`newest`): not one of its
    /// cursors — another server's, tenant's or mode's, or one from before the database was
    /// restored. Followed, it would skip every event up to it
    /// (`events::a_cursor_this_feed_never_gave_out_is_refused`).
    Ahead { newest: i64 },
}

pub(crate) fn columns(tx: &dyn Statements) -> String {
    format!(
        "id AS c0, type AS c1, {} AS c2, entity AS c3, CAST(record_id AS TEXT) AS c4, \
         external_source AS c5, external_id AS c6, data AS c7, position AS c8",
        tx.dialect().time("occurred_at")
    )
}

/// How many columns [`columns`] selects.
const COLUMNS: usize = 9;

/// An event as a packed page lists it: the values of [`columns`], in order.
#[derive(serde::Deserialize)]
struct Packed(
    String,
    String,
    String,
    Option<String>,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    String,
    i64,
);

/// The events a statement selecting [`columns`] answers, in its order. Read as one packed row
/// where the engine fetches many rows slowly (SQLite: 1000 events in one row instead of 1000;
/// figure `feed_read`); the `events::` and `webhooks::` tests read pages, fan-outs and replays
/// on both engines, so both ways answer the same events.
pub(crate) async fn read_events(
    tx: &mut dyn Statements,
    sql: &str,
    args: Vec<Arg>,
) -> Result<Vec<Event>, StoreError> {
    match tx.dialect().packed(sql, COLUMNS) {
        Some(packed) => match tx.row(&packed, args).await? {
            Some(row) => events_of_packed(&row.text(0)?),
            None => Ok(Vec::new()),
        },
        None => tx.rows(sql, args).await?.iter().map(event_of).collect(),
    }
}

/// The events of a page packed into one JSON text ([`Dialect::packed`](super::tx::Dialect::packed)).
fn events_of_packed(text: &str) -> Result<Vec<Event>, StoreError> {
    let decode = |e: serde_json::Error| StoreError::Database(sqlx::Error::Decode(Box::new(e)));
    let rows: Vec<Packed> = serde_json::from_str(text).map_err(decode)?;
    rows.into_iter()
        .map(
            |Packed(
                id,
                event_type,
                occurred_at,
                entity,
                record_id,
                source,
                external_id,
                data,
                position,
            )| {
                Ok(Event {
                    id,
                    event_type,
                    occurred_at,
                    entity,
                    record_id,
                    external_source: source,
                    external_id,
                    data: RawValue::from_string(data).map_err(decode)?,
                    position,
                })
            },
        )
        .collect()
}

fn event_of(row: &Row) -> Result<Event, StoreError> {
    Ok(Event {
        id: row.text(0)?,
        event_type: row.text(1)?,
        occurred_at: row.text(2)?,
        entity: row.opt_text(3)?,
        record_id: row.opt_text(4)?.map(|_| row.id(4)).transpose()?,
        external_source: row.opt_text(5)?,
        external_id: row.opt_text(6)?,
        data: RawValue::from_string(row.text(7)?)
            .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))?,
        position: row.int(8)?,
    })
}

/// `types` as a condition on the `type` column, its arguments appended to `args`; `None`
/// when it names no type (which the feed reads as every type).
pub(crate) fn type_condition(types: &TypeFilter, args: &mut Vec<Arg>) -> Option<String> {
    let (exact, prefixes) = types.parts();
    let mut any = Vec::new();
    for name in exact {
        args.push(name.as_str().into());
        any.push(format!("type = ${}", args.len()));
    }
    for prefix in prefixes {
        args.push(format!("{prefix}%").into());
        any.push(format!("type LIKE ${}", args.len()));
    }
    (!any.is_empty()).then(|| format!("({})", any.join(" OR ")))
}

/// A page of the tenant's events after a position, in position order.
pub(crate) async fn feed(
    tx: &mut dyn Statements,
    scope: Scope,
    query: &FeedQuery,
) -> Result<Feed, StoreError> {
    let mut args: Vec<Arg> = vec![scope.tenant_id.into(), scope.mode.as_str().into()];
    let (pruned, newest) = match tx
        .row(
            "SELECT pruned_through, last FROM event_positions \
             WHERE tenant_id = $1::uuid AND mode = $2::text",
            args.clone(),
        )
        .await?
    {
        Some(row) => (row.int(0)?, row.int(1)?),
        None => (0, 0),
    };
    match query.after {
        Some(after) if after < pruned => return Ok(Feed::Expired),
        Some(after) if after > newest => return Ok(Feed::Ahead { newest }),
        _ => {}
    }
    // Without a cursor, from the oldest kept event.
    let after = query.after.unwrap_or(pruned);
    args.push(after.into());
    let mut conditions = Vec::new();
    if let Some(before) = query.before {
        args.push(before.into());
        conditions.push(format!("position < ${}", args.len()));
    }
    if let Some(types) = type_condition(&query.types, &mut args) {
        conditions.push(types);
    }
    for (column, value) in [
        ("entity", &query.entity),
        ("external_source", &query.external_source),
    ] {
        if let Some(value) = value {
            args.push(value.as_str().into());
            conditions.push(format!("{column} = ${}", args.len()));
        }
    }
    args.push((i64::from(query.limit) + 1).into());
    let sql = format!(
        "SELECT {} FROM events WHERE tenant_id = $1::uuid AND mode = $2::text AND position > $3{} \
         ORDER BY position{} LIMIT ${}",
        columns(tx),
        conditions
            .iter()
            .map(|c| format!(" AND {c}"))
            .collect::<String>(),
        if query.newest_first { " DESC" } else { "" },
        args.len()
    );
    let mut events = read_events(tx, &sql, args).await?;
    let has_more = events.len() > query.limit as usize;
    events.truncate(query.limit as usize);
    let next = events.last().map_or(after, |e| e.position);
    // A page that is not full saw every event up to `newest`, read before it (positions
    // commit in order, so those are all committed): a filtered reader's cursor moves past the
    // events it skipped, so it neither scans them again nor falls behind the retention into
    // `410` (`events::a_filtered_reader_moves_past_what_it_skipped`).
    let next = if has_more || query.newest_first || query.before.is_some() {
        next
    } else {
        next.max(newest)
    };
    Ok(Feed::Page {
        events,
        next,
        has_more,
    })
}

/// One event of the tenant, by id.
pub(crate) async fn one(
    tx: &mut dyn Statements,
    scope: Scope,
    id: &str,
) -> Result<Option<Event>, StoreError> {
    let sql = format!(
        "SELECT {} FROM events WHERE tenant_id = $1::uuid AND mode = $2::text AND id = $3",
        columns(tx)
    );
    let row = tx
        .row(
            &sql,
            vec![
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                id.into(),
            ],
        )
        .await?;
    row.as_ref().map(event_of).transpose()
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
