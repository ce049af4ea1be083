//! `GET /console`: the tenant at a glance — records per entity, the last 24 hours of syncs and
//! their rejected records, the event log's oldest and newest kept events, and the webhook
//! endpoints' health (to keys with the `webhooks` scope, as the API shows them).

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;

use super::session::Signed;
use super::webhooks::{health_table, may_manage};
use super::{page, when, ConsoleError};
use crate::domain::event::Event;
use crate::domain::{Entity, Scope};
use crate::http::AppState;
use crate::store::{webhook_health, webhooks};
use crate::store::{Feed, FeedQuery, ImportOutcome, ImportQuery, ListQuery, Store};

pub fn routes() -> Router<AppState> {
    // `/console/`, as a hand types or a proxy rewrites it, is the overview too.
    Router::new().route("/console", get(show)).route(
        "/console/",
        get(|| async { axum::response::Redirect::permanent("/console") }),
    )
}

/// Rejected records are summed over at most this many syncs with rejections (then "at least").
const SUMMED_SYNCS: u32 = 5000;
const SUM_PAGE: u32 = 500;

/// The syncs of the last 24 hours, those with rejected records, and how many records they
/// rejected (`true` when more syncs had rejections than were summed).
async fn last_day(store: &dyn Store, scope: Scope) -> Result<(u64, u64, u64, bool), ConsoleError> {
    let since = crate::store::minutes_ago(24 * 60);
    let all = ImportQuery {
        since: Some(since.clone()),
        limit: 1,
        ..ImportQuery::default()
    };
    let (_, syncs) = store.list_imports(scope, &all).await?;
    let mut rejecting = ImportQuery {
        since: Some(since),
        outcome: Some(ImportOutcome::Rejected),
        limit: SUM_PAGE,
        ..ImportQuery::default()
    };
    let mut rejected = 0;
    let with_rejections = loop {
        let (entries, total) = store.list_imports(scope, &rejecting).await?;
        rejected += entries.iter().map(|e| e.errors).sum::<u64>();
        rejecting.offset += SUM_PAGE;
        if entries.len() < SUM_PAGE as usize || rejecting.offset >= SUMMED_SYNCS {
            break total;
        }
    };
    let partial = u64::from(rejecting.offset) < with_rejections;
    Ok((syncs, with_rejections, rejected, partial))
}

async fn end_of_log(
    store: &dyn Store,
    scope: Scope,
    newest_first: bool,
) -> Result<Option<Event>, ConsoleError> {
    let query = FeedQuery {
        limit: 1,
        newest_first,
        ..FeedQuery::default()
    };
    Ok(match store.events(scope, &query).await? {
        Feed::Page { mut events, .. } => events.pop(),
        Feed::Expired | Feed::Ahead { .. } | Feed::Foreign { .. } => None,
    })
}

async fn show(
    State(state): State<AppState>,
    Signed(principal): Signed,
) -> Result<Response, ConsoleError> {
    let store = &*state.store;
    let scope = principal.scope;
    let mut counts = Vec::new();
    for entity in Entity::ALL {
        let query = ListQuery {
            limit: 1,
            ..ListQuery::default()
        };
        counts.push((entity, store.list(scope, entity, &query).await?.total));
    }
    let (syncs, with_rejections, rejected, partial) = last_day(store, scope).await?;
    let oldest = end_of_log(store, scope, false).await?;
    let newest = end_of_log(store, scope, true).await?;
    let hooks = if may_manage(&principal) {
        let endpoints = webhooks::list(store, scope).await?;
        Some((endpoints, webhook_health::health(store, scope).await?))
    } else {
        None
    };
    let body = html! {
        section aria-labelledby="records-heading" {
            h2 #records-heading { "Records" }
            table.compact {
                caption.visually-hidden { "Records per entity (not counting deleted ones)" }
                thead { tr { th scope="col" { "Entity" } th scope="col" .num { "Records" } } }
                tbody {
                    @for (entity, total) in &counts {
                        tr {
                            th scope="row" {
                                @if *entity == Entity::Jobs {
                                    a href="/console/jobs" { (entity.plural()) }
                                } @else { (entity.plural()) }
                            }
                            td.num { (total) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="day-heading" {
            h2 #day-heading { "Last 24 hours" }
            dl.figures {
                div { dt { "Sync calls" } dd #syncs-24h { a href="/console/syncs" { (syncs) } } }
                div {
                    dt { "Calls with rejected records" }
                    dd #rejecting-24h { a href="/console/syncs?outcome=rejected" { (with_rejections) } }
                }
                div {
                    dt { "Rejected records" }
                    dd #rejected-24h .bad[rejected > 0] {
                        @if partial { "at least " } (rejected)
                    }
                }
            }
        }
        section aria-labelledby="events-heading" {
            h2 #events-heading { "Event log" }
            @match (&oldest, &newest) {
                (Some(oldest), Some(newest)) => {
                    dl.figures {
                        div { dt { "Oldest kept event" } dd { (when(&oldest.occurred_at)) br; code { (oldest.event_type) } } }
                        div { dt { "Newest event" } dd { (when(&newest.occurred_at)) br; code { (newest.event_type) } } }
                    }
                    p { a href="/console/events" { "Follow the events" } }
                }
                _ => p { "No events yet." }
            }
        }
        section aria-labelledby="webhooks-heading" {
            h2 #webhooks-heading { "Webhooks" }
            @match &hooks {
                None => p.hint { "Webhook endpoints show here to keys with the " code { "webhooks" } " scope." },
                Some((endpoints, _)) if endpoints.is_empty() => p { "No webhook endpoints yet." },
                Some((endpoints, health)) => {
                    (health_table(endpoints, health))
                    p { a href="/console/webhooks" { "Deliveries, retries and replays" } }
                }
            }
        }
    };
    Ok(page("Overview", "/console", &principal, body))
}
