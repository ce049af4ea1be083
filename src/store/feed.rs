//! Reading the event log: the feed's pages after a cursor, one event by id, and the rows as
//! events, written once for both engines. A reader following positions never passes over an
//! event yet to commit (see `events.rs`, which gives positions out).

use serde_json::value::RawValue;
use uuid::Uuid;

use super::tx::{Arg, Row, Statements};
use super::StoreError;
use crate::domain::event::{Cursor, Event, TypeFilter};
use crate::domain::Scope;

/// What a feed reader asks for.
#[derive(Debug, Clone, Default)]
pub struct FeedQuery {
    /// The position after which to read; `None` from the oldest kept event.
    pub after: Option<i64>,
    /// The end of the id of the event at `after`, as the reader's cursor holds it: another
    /// event there is answered [`Feed::Foreign`].
    pub after_check: Option<Cursor>,
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
        /// The id of the event at `next`, when one is there.
        next_id: Option<String>,
        has_more: bool,
    },
    /// The cursor names events already pruned: the reader missed some.
    Expired,
    /// The cursor is past the newest position this log gave out (`newest`): not one of its
    /// cursors — another server's, tenant's or mode's, or one from before the database was
    /// restored. Followed, it would skip every event up to it
    /// (`events::a_cursor_this_feed_never_gave_out_is_refused`).
    Ahead { newest: i64 },
    /// The event at the cursor's position is not the one the cursor was given out after: the
    /// database was restored from a backup since (its log grew anew past the position), or
    /// the cursor is another tenant's or mode's. Followed, it would skip events the reader
    /// never saw (`events::a_cursor_from_before_a_restore_is_refused`).
    Foreign { newest: i64 },
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
    if let (Some(after), Some(cursor)) = (query.after, &query.after_check) {
        if let Some(id) = id_at(tx, scope, after).await? {
            if !cursor.fits(&id) {
                return Ok(Feed::Foreign { newest });
            }
        }
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
    let next_id = match events.last() {
        Some(last) if last.position == next => Some(last.id.clone()),
        _ => id_at(tx, scope, next).await?,
    };
    Ok(Feed::Page {
        events,
        next,
        next_id,
        has_more,
    })
}

/// The id of the tenant's event at `position`, if it is kept.
async fn id_at(
    tx: &mut dyn Statements,
    scope: Scope,
    position: i64,
) -> Result<Option<String>, StoreError> {
    let row = tx
        .row(
            "SELECT id FROM events WHERE tenant_id = $1::uuid AND mode = $2::text \
             AND position = $3",
            vec![
                scope.tenant_id.into(),
                scope.mode.as_str().into(),
                position.into(),
            ],
        )
        .await?;
    row.map(|row| row.text(0)).transpose()
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
