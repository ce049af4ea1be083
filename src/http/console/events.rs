//! `GET /console/events`: the event log, newest first, filterable by type, and following new
//! events live: `assets/console.js` asks `GET /console/events/rows?after=…` every few seconds
//! for the rows of events newer than the newest shown, and puts them on top. Without script
//! the page still works; reloading it shows what arrived.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::session::Signed;
use super::{cut, encode, page, rows, when, ConsoleError, PageQuery};
use crate::domain::event::{decode_cursor, encode_cursor, Event, TypeFilter};
use crate::http::AppState;
use crate::store::{Feed, FeedQuery};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/events", get(list))
        .route("/console/events/rows", get(newer))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    #[serde(default)]
    types: String,
    /// A cursor: older than this event (paging back).
    before: Option<String>,
    /// A cursor: newer than this event (following).
    after: Option<String>,
    limit: Option<u32>,
}

fn types_of(text: &str) -> Result<TypeFilter, ConsoleError> {
    match text.trim() {
        "" => Ok(TypeFilter::default()),
        text => TypeFilter::parse("types", text)
            .map_err(|e| ConsoleError::BadRequest(format!("event types: {}", e.message))),
    }
}

fn cursor(name: &str, text: Option<&str>) -> Result<Option<i64>, ConsoleError> {
    text.filter(|t| !t.is_empty())
        .map(|t| decode_cursor(name, t))
        .transpose()
        .map_err(|e| ConsoleError::BadRequest(format!("{name}: {}", e.message)))
}

fn row(event: &Event) -> Markup {
    html! {
        tr data-cursor=(encode_cursor(event.position)) {
            td { (when(&event.occurred_at)) }
            td { code.type { (event.event_type) } }
            td { (event.entity.as_deref().unwrap_or("")) }
            td { (event.external_source.as_deref().unwrap_or("")) " " (event.external_id.as_deref().unwrap_or("")) }
            td { code.data title=(cut(event.data.get(), 2000)) { (cut(event.data.get(), 160)) } }
        }
    }
}

async fn list(
    State(state): State<AppState>,
    Signed(principal): Signed,
    PageQuery(filters): PageQuery<Filters>,
) -> Result<Response, ConsoleError> {
    let limit = rows(filters.limit);
    let query = FeedQuery {
        types: types_of(&filters.types)?,
        before: cursor("before", filters.before.as_deref())?,
        limit,
        newest_first: true,
        ..FeedQuery::default()
    };
    let (events, next, has_more) = match state.store.events(principal.scope, &query).await? {
        Feed::Page {
            events,
            next,
            has_more,
            ..
        } => (events, next, has_more),
        Feed::Expired | Feed::Ahead { .. } | Feed::Foreign { .. } => (Vec::new(), 0, false),
    };
    // Following starts after the newest event shown, or, on an older page, is off.
    let newest = match (events.first(), query.before) {
        (_, Some(_)) => None,
        (Some(first), None) => Some(encode_cursor(first.position)),
        (None, None) => Some(encode_cursor(0)),
    };
    let types = filters.types.trim();
    let body = html! {
        form.filters method="get" action="/console/events" {
            label for="types" { "Event types" }
            input #types type="text" name="types" value=(types) placeholder="job.*,operation.completed"
                aria-describedby="types-hint";
            button type="submit" { "Filter" }
            span #types-hint .hint { "Comma-separated; " code { "job.*" } " matches every job event." }
        }
        @if let Some(after) = &newest {
            p.live {
                label {
                    input #follow type="checkbox" checked;
                    " Follow new events"
                }
                " " span #live-status role="status" aria-live="polite" {}
            }
            // The script reads where to follow from and which types.
            table #events data-after=(after) data-types=(types)
                data-source={ "/console/events/rows?types=" (encode(types)) } {
                (head())
                tbody { @for event in &events { (row(event)) } }
            }
        } @else {
            table #events { (head()) tbody { @for event in &events { (row(event)) } } }
        }
        @if events.is_empty() { p #no-events { "No events match." } }
        nav.pager aria-label="Pages" {
            @if query.before.is_some() {
                a href={ "/console/events?types=" (encode(types)) } { "↑ Newest" }
            }
            @if has_more {
                a rel="next" href={ "/console/events?types=" (encode(types)) "&limit=" (limit) "&before=" (encode_cursor(next)) } { "Older →" }
            }
        }
    };
    Ok(page("Events", "/console/events", &principal, body))
}

fn head() -> Markup {
    html! {
        caption.visually-hidden { "Events, newest first" }
        thead { tr {
            th scope="col" { "When" } th scope="col" { "Type" } th scope="col" { "Entity" }
            th scope="col" { "Record" } th scope="col" { "Data" }
        } }
    }
}

/// `GET /console/events/rows?after=…&types=…`: the rows of events after a cursor, newest
/// first, as an HTML fragment; the `x-after` header says where to follow from next.
async fn newer(
    State(state): State<AppState>,
    Signed(principal): Signed,
    PageQuery(filters): PageQuery<Filters>,
) -> Result<Response, ConsoleError> {
    let after = cursor("after", filters.after.as_deref())?;
    let query = FeedQuery {
        after,
        types: types_of(&filters.types)?,
        limit: 200,
        ..FeedQuery::default()
    };
    let (events, next) = match state.store.events(principal.scope, &query).await? {
        Feed::Page { events, next, .. } => (events, next),
        // Missed events already pruned: follow from the newest from now on.
        Feed::Expired => (Vec::new(), after.unwrap_or(0)),
        // Not a cursor of this log: follow from its newest event on.
        Feed::Ahead { newest } | Feed::Foreign { newest } => (Vec::new(), newest),
    };
    let rows = html! { @for event in events.iter().rev() { (row(event)) } };
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (
                header::HeaderName::from_static("x-after"),
                encode_cursor(next),
            ),
        ],
        rows.into_string(),
    )
        .into_response())
}
