//! `GET /console/webhooks`: the tenant's endpoints, each with its health and its deliveries,
//! failures first; and the forms that send again: retry a delivery, replay a time range, send
//! a test event, rotate the secret (the new one shown once, on the answer to that form).
//!
//! Every action calls the store operation the API's handler calls (`store::delivery_log`,
//! `store::webhooks`), so the console and `/api-webhooks` cannot disagree. Managing webhooks
//! takes the key's `webhooks` scope, as the API's routes do; a key without it sees why instead
//! (`console_webhooks::the_webhooks_page_is_scoped_and_guarded`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::session::{same_origin, Signed};
use super::{age, cut, page, when, ConsoleError};
use crate::domain::api_key::KeyScope;
use crate::domain::delivery::{Attempt, Delivery, Endpoint};
use crate::domain::event::TypeFilter;
use crate::domain::Scope;
use crate::http::auth::Principal;
use crate::http::webhook_sends::replay_range;
use crate::http::{ApiError, AppState};
use crate::store::delivery_log::{self, DeliveryQuery, NotQueued};
use crate::store::webhook_health::{self, Health};
use crate::store::{webhooks, Store};

const HERE: &str = "/console/webhooks";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HERE, get(show))
        .route(
            "/console/webhooks/{id}/deliveries/{delivery}/retry",
            post(retry),
        )
        .route("/console/webhooks/{id}/replay", post(replay))
        .route("/console/webhooks/{id}/test", post(test))
        .route("/console/webhooks/{id}/rotate-secret", post(rotate))
}

/// Deliveries shown per endpoint and status; the API's delivery log pages through the rest.
const SHOWN: [(&str, u32); 3] = [("failed", 50), ("pending", 50), ("delivered", 20)];

const LACKS_SCOPE: &str = "this API key lacks the `webhooks` scope, which managing webhooks \
    needs (as /api-webhooks does); sign in with a key that has it";

fn lacks_scope() -> ConsoleError {
    ConsoleError::Api(ApiError::Forbidden(LACKS_SCOPE.to_owned()))
}

pub(super) fn may_manage(principal: &Principal) -> bool {
    principal.scopes.contains(KeyScope::Webhooks)
}

/// What every form here checks first: sent from this console's own pages, by a key that may
/// manage webhooks.
fn guard(principal: &Principal, headers: &HeaderMap) -> Result<(), ConsoleError> {
    if !same_origin(headers) {
        return Err(ConsoleError::CrossOrigin);
    }
    if !may_manage(principal) {
        return Err(lacks_scope());
    }
    Ok(())
}

fn id_of(text: &str, what: &str) -> Result<Uuid, ConsoleError> {
    Uuid::parse_str(text).map_err(|_| ConsoleError::NotFound(format!("no {what} with id {text:?}")))
}

fn no_webhook(id: Uuid) -> ConsoleError {
    ConsoleError::NotFound(format!("no webhook with id {id}"))
}

fn back(done: &str, id: Uuid) -> Response {
    Redirect::to(&format!("{HERE}?done={done}#endpoint-{id}")).into_response()
}

/// An attempt's answer in words: the HTTP status, or why there was none.
fn answer(attempt: &Attempt) -> String {
    match (attempt.http_status, &attempt.error) {
        (Some(status), _) => format!("HTTP {status} in {} ms", attempt.latency_ms),
        (None, Some(error)) => format!("no answer: {}", cut(error, 80)),
        (None, None) => "no answer".to_owned(),
    }
}

fn status_badge(status: &str) -> Markup {
    let class = match status {
        "delivered" => "good",
        "failed" => "bad",
        _ => "busy",
    };
    html! { span class={ "badge status " (class) } { (status) } }
}

/// Switched off by a user (`paused`) is told apart from switched off by the server after
/// failing (`disabled`, with its reason below): one is a choice, the other needs attention
/// (`console_webhooks::the_webhooks_page_is_scoped_and_guarded`).
fn state_badge(endpoint: &Endpoint) -> Markup {
    match (endpoint.active, &endpoint.disabled_reason) {
        (true, _) => html! { span.badge.good { "active" } },
        (false, None) => html! { span.badge.busy { "paused" } },
        (false, Some(_)) => html! { span.badge.bad { "disabled" } },
    }
}

/// What a switched-off endpoint is held back: its events are not deliveries until it is
/// switched on, so without this a paused endpoint looked as if nothing waited
/// (`console_webhooks::a_paused_endpoint_shows_what_it_is_held_back`).
fn held_note(health: &Health) -> Option<Markup> {
    let held = health.held.as_ref().filter(|h| h.events > 0)?;
    Some(html! {
        span.held {
            @if held.at_least { "at least " }
            (held.events) " event" @if held.events != 1 { "s" } " held back"
            @if let Some(at) = &held.oldest { ", the oldest " (age(at)) " old" }
            "; sent when switched on"
        }
    })
}

/// The endpoints' health as one table: the overview's webhooks section.
pub(super) fn health_table(endpoints: &[Endpoint], health: &HashMap<Uuid, Health>) -> Markup {
    let none = Health::default();
    html! {
        table #webhook-health {
            caption.visually-hidden { "Webhook endpoints and how their deliveries stand" }
            thead { tr {
                th scope="col" { "Endpoint" } th scope="col" { "State" }
                th scope="col" .num { "Pending" } th scope="col" .num { "Failed" }
                th scope="col" { "Oldest undelivered" } th scope="col" { "Last attempt" }
            } }
            tbody {
                @for endpoint in endpoints {
                    @let h = health.get(&endpoint.id).unwrap_or(&none);
                    tr {
                        th scope="row" { a href={ (HERE) "#endpoint-" (endpoint.id) } { code.data { (endpoint.url) } } }
                        td { (state_badge(endpoint)) }
                        td.num { (h.pending) @if let Some(note) = held_note(h) { br; (note) } }
                        td.num .bad[h.failed > 0] { (h.failed) }
                        td { @match &h.oldest_undelivered {
                            Some(at) => { "waiting " (age(at)) }
                            None => span.hint { "none" },
                        } }
                        td { @match &h.last_attempt {
                            Some((status, attempt)) => { (status_badge(status)) " " (answer(attempt)) br; (when(&attempt.at)) }
                            None => span.hint { "nothing sent yet" },
                        } }
                    }
                }
            }
        }
    }
}

fn delivery_row(endpoint: &Endpoint, delivery: &Delivery) -> Markup {
    let last = delivery.attempt_log.last();
    html! {
        tr id={ "delivery-" (delivery.id) } {
            td { (status_badge(&delivery.status)) }
            td { code.type { (delivery.event_type) } br; span.hint { (delivery.event_id) } }
            td { (when(&delivery.created_at)) }
            td.num { (delivery.attempts) }
            td {
                @if let Some(attempt) = last { (answer(attempt)) br; (when(&attempt.at)) }
                @if let Some(next) = &delivery.next_attempt_at { br; "next attempt " (when(next)) }
            }
            td {
                @if delivery.status != "pending" {
                    form method="post" action={ (HERE) "/" (endpoint.id) "/deliveries/" (delivery.id) "/retry" } {
                        button type="submit" aria-label={ "Retry the delivery of " (delivery.event_type) " " (delivery.event_id) } { "Retry" }
                    }
                }
            }
        }
    }
}

fn actions(endpoint: &Endpoint) -> Markup {
    let id = endpoint.id;
    html! {
        div.actions {
            form method="post" action={ (HERE) "/" (id) "/test" } {
                button type="submit" { "Send a test event" }
            }
            form method="post" action={ (HERE) "/" (id) "/rotate-secret" } {
                button type="submit" { "Rotate the secret" }
            }
        }
        details.replay {
            summary { "Replay events of a time range" }
            form.filters method="post" action={ (HERE) "/" (id) "/replay" } {
                label for={ "since-" (id) } { "From (UTC)" }
                input id={ "since-" (id) } type="datetime-local" name="since" step="1" required;
                label for={ "until-" (id) } { "Until (UTC, optional)" }
                input id={ "until-" (id) } type="datetime-local" name="until" step="1";
                label for={ "types-" (id) } { "Only types (optional)" }
                input id={ "types-" (id) } type="text" name="types" placeholder="job.*, operation.completed";
                button type="submit" { "Replay" }
            }
            p.hint { "The endpoint's subscribed events of the log in that range are sent again with their original ids." }
        }
    }
}

fn endpoint_section(endpoint: &Endpoint, health: &Health, deliveries: &[Delivery]) -> Markup {
    let id = endpoint.id;
    html! {
        section.endpoint id={ "endpoint-" (id) } aria-labelledby={ "endpoint-heading-" (id) } {
            h2 id={ "endpoint-heading-" (id) } { code.data { (endpoint.url) } " " (state_badge(endpoint)) }
            dl.facts {
                dt { "Events" } dd { @for (i, e) in endpoint.events.iter().enumerate() { @if i > 0 { ", " } code { (e) } } }
                @if let Some(description) = &endpoint.description { dt { "Description" } dd { (description) } }
                @if let Some(reason) = &endpoint.disabled_reason { dt { "Disabled because" } dd.bad { (reason) } }
                dt { "Pending" } dd { (health.pending) }
                @if let Some(note) = held_note(health) { dt { "Not sent yet" } dd { (note) } }
                dt { "Failed" } dd .bad[health.failed > 0] { (health.failed) }
                @if let Some(at) = &health.oldest_undelivered {
                    dt { "Oldest undelivered" } dd { "waiting " (age(at)) }
                }
            }
            (actions(endpoint))
            @if deliveries.is_empty() {
                p { "Nothing sent to this endpoint yet." }
            } @else {
                table.deliveries id={ "deliveries-" (id) } {
                    caption { "Deliveries to " (endpoint.url) ", failures first" }
                    thead { tr {
                        th scope="col" { "Status" } th scope="col" { "Event" } th scope="col" { "Made" }
                        th scope="col" .num { "Attempts" } th scope="col" { "Last answer" }
                        th scope="col" { span.visually-hidden { "Action" } }
                    } }
                    tbody { @for delivery in deliveries { (delivery_row(endpoint, delivery)) } }
                }
                @let shown = |status: &str| deliveries.iter().filter(|d| d.status == status).count() as u64;
                @if shown("failed") < health.failed || shown("pending") < health.pending {
                    p.hint { "More deliveries than shown here: " code { "GET /api-webhooks/" (id) "/deliveries?status=failed" } " pages through them." }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
    queued: Option<String>,
}

fn notice(done: &Done) -> Option<String> {
    Some(match done.done.as_deref()? {
        "retry" => {
            "The delivery is queued and goes out within a second; reload to see how it went."
                .to_owned()
        }
        "busy" => "That delivery is being sent right now; reload to see how it went.".to_owned(),
        "off" => "Nothing was queued: the endpoint is switched off. Switch it on with PATCH \
                  /api-webhooks/{id} {\"active\": true}; it is then sent what it missed."
            .to_owned(),
        "test" => "A webhook.test event is queued.".to_owned(),
        "replay" => format!(
            "{} events queued to be sent again.",
            done.queued
                .as_deref()
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0)
        ),
        _ => return None,
    })
}

/// An endpoint's deliveries as [`SHOWN`]: failed, then pending, then the newest delivered.
async fn failures_first(
    store: &dyn Store,
    scope: Scope,
    webhook: Uuid,
) -> Result<Vec<Delivery>, ConsoleError> {
    let mut deliveries: Vec<Delivery> = Vec::new();
    for (status, limit) in SHOWN {
        let query = DeliveryQuery {
            webhook_id: Some(webhook),
            status: Some(status.to_owned()),
            limit,
            offset: 0,
        };
        // Read status by status, a delivery sent in between is in two reads: shown once,
        // as the first read found it (it was listed twice, once pending, once delivered).
        let found = delivery_log::list(store, scope, &query).await?;
        let new: Vec<Delivery> = found
            .into_iter()
            .filter(|d| !deliveries.iter().any(|seen| seen.id == d.id))
            .collect();
        deliveries.extend(new);
    }
    Ok(deliveries)
}

async fn show(
    State(state): State<AppState>,
    Signed(principal): Signed,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    if !may_manage(&principal) {
        let body = html! { p role="alert" { (LACKS_SCOPE) } };
        let page = page("Webhooks", HERE, &principal, body);
        return Ok((StatusCode::FORBIDDEN, page).into_response());
    }
    let store = &*state.store;
    let scope = principal.scope;
    let endpoints = webhooks::list(store, scope).await?;
    let health = webhook_health::health(store, scope).await?;
    let none = Health::default();
    let mut sections = Vec::new();
    for endpoint in &endpoints {
        let deliveries = failures_first(store, scope, endpoint.id).await?;
        let h = health.get(&endpoint.id).unwrap_or(&none);
        sections.push(endpoint_section(endpoint, h, &deliveries));
    }
    let body = html! {
        @if let Some(text) = notice(&done) { p.notice role="status" { (text) } }
        @if endpoints.is_empty() {
            p { "No webhook endpoints yet. Register one with " code { "POST /api-webhooks" } " (see " a href="/docs" { "the API documentation" } ")." }
        }
        @for section in sections { (section) }
    };
    Ok(page("Webhooks", HERE, &principal, body))
}

/// `POST …/deliveries/{delivery}/retry`: as `POST /api-webhooks/{id}/deliveries/{delivery_id}/retry`.
async fn retry(
    State(state): State<AppState>,
    Signed(principal): Signed,
    headers: HeaderMap,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    guard(&principal, &headers)?;
    let id = id_of(&id, "webhook")?;
    let delivery = id_of(&delivery, "delivery")?;
    match delivery_log::retry(&*state.store, principal.scope, id, delivery).await? {
        Ok(_) => Ok(back("retry", id)),
        Err(NotQueued::InFlight) => Ok(back("busy", id)),
        Err(NotQueued::Disabled) => Ok(back("off", id)),
        Err(NotQueued::NotFound) => Err(ConsoleError::NotFound(format!(
            "no delivery {delivery} of webhook {id}"
        ))),
    }
}

#[derive(Debug, Deserialize)]
pub struct ReplayForm {
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    types: String,
}

/// A `datetime-local` field's value (`2026-12-05T10:00`, seconds optional) as RFC 3339 UTC;
/// other text is left for the API's check to refuse or take.
fn utc(text: &str) -> String {
    let text = text.trim();
    match text.len() {
        16 => format!("{text}:00Z"),
        19 => format!("{text}Z"),
        _ => text.to_owned(),
    }
}

/// `POST …/replay`: as `POST /api-webhooks/{id}/replay`, with the same checks of the range.
async fn replay(
    State(state): State<AppState>,
    Signed(principal): Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ReplayForm>,
) -> Result<Response, ConsoleError> {
    guard(&principal, &headers)?;
    let id = id_of(&id, "webhook")?;
    let until = match form.until.trim() {
        "" => None,
        text => Some(utc(text)),
    };
    let (since, until) =
        replay_range(&utc(&form.since), until.as_deref()).map_err(ConsoleError::Api)?;
    let types = match form.types.trim() {
        "" => TypeFilter::default(),
        text => {
            TypeFilter::parse("types", text).map_err(|e| ConsoleError::Api(ApiError::invalid(e)))?
        }
    };
    let store = &*state.store;
    let queued =
        match delivery_log::replay(store, principal.scope, id, &since, until.as_deref(), &types)
            .await?
        {
            Ok(replayed) => replayed.queued,
            Err(NotQueued::Disabled) => return Ok(back("off", id)),
            Err(_) => return Err(no_webhook(id)),
        };
    Ok(Redirect::to(&format!("{HERE}?done=replay&queued={queued}#endpoint-{id}")).into_response())
}

/// `POST …/test`: as `POST /api-webhooks/{id}/test`.
async fn test(
    State(state): State<AppState>,
    Signed(principal): Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    guard(&principal, &headers)?;
    let id = id_of(&id, "webhook")?;
    match delivery_log::send_test(&*state.store, principal.scope, id).await? {
        Ok(_) => Ok(back("test", id)),
        Err(NotQueued::Disabled) => Ok(back("off", id)),
        Err(_) => Err(no_webhook(id)),
    }
}

/// `POST …/rotate-secret`: as `POST /api-webhooks/{id}/rotate-secret`. The new secret is in
/// this answer only (not cached: every console answer is `no-store`), never in an address.
async fn rotate(
    State(state): State<AppState>,
    Signed(principal): Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    guard(&principal, &headers)?;
    let id = id_of(&id, "webhook")?;
    let endpoint = webhooks::rotate(&*state.store, principal.scope, id)
        .await?
        .ok_or_else(|| no_webhook(id))?;
    let secret = endpoint.secret.unwrap_or_default();
    let hours = webhooks::ROTATION_GRACE_HOURS;
    let body = html! {
        p { "The new signing secret of " code.data { (endpoint.url) } ":" }
        p { code #new-secret .data { (secret) } }
        p role="alert" { "Copy it now: it is shown only this once." }
        p { "The old secret keeps signing for " (hours) " hours: beside the new one in "
            code { "webhook-signature" } ", and alone in " code { "X-Eryxon-Signature" }
            ", which switches to the new secret when the " (hours) " hours end. Rotating again \
            within them drops the old secret at once." }
        p { a href={ (HERE) "#endpoint-" (id) } { "Back to the webhooks" } }
    };
    Ok(page("New signing secret", HERE, &principal, body))
}
