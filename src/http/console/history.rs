//! `GET /console/syncs`: every sync call, newest first, filterable by entity and outcome; and
//! `GET /console/syncs/{id}`: one call with its rejected records (field, code, message) — what
//! an engineer needs to fix the export.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::session::Signed;
use super::{encode, page, pager, rows, when, ConsoleError, PageQuery};
use crate::domain::history::ImportRecord;
use crate::domain::Entity;
use crate::http::AppState;
use crate::store::{ImportOutcome, ImportQuery};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/syncs", get(list))
        .route("/console/syncs/{id}", get(one))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    #[serde(default)]
    entity: String,
    #[serde(default)]
    outcome: String,
    offset: Option<u32>,
    limit: Option<u32>,
}

fn outcome_label(outcome: ImportOutcome) -> &'static str {
    match outcome {
        ImportOutcome::Clean => "Clean (nothing rejected)",
        ImportOutcome::Rejected => "With rejected records",
        ImportOutcome::Failed => "Failed (4xx/5xx)",
    }
}

/// How a call ended, in words.
fn verdict(entry: &ImportRecord) -> (&'static str, &'static str) {
    if entry.status >= 400 {
        ("failed", "bad")
    } else if entry.errors > 0 {
        ("rejected records", "warn")
    } else {
        ("clean", "good")
    }
}

async fn list(
    State(state): State<AppState>,
    Signed(principal): Signed,
    PageQuery(filters): PageQuery<Filters>,
) -> Result<Response, ConsoleError> {
    let entity = match filters.entity.as_str() {
        "" => None,
        name => Some(
            Entity::ALL
                .into_iter()
                .find(|e| e.plural() == name)
                .ok_or_else(|| ConsoleError::BadRequest(format!("no entity {name:?}")))?,
        ),
    };
    let outcome = match filters.outcome.as_str() {
        "" => None,
        name => Some(
            ImportOutcome::parse(name)
                .ok_or_else(|| ConsoleError::BadRequest(format!("no outcome {name:?}")))?,
        ),
    };
    let limit = rows(filters.limit);
    let query = ImportQuery {
        entity,
        outcome,
        limit,
        offset: filters.offset.unwrap_or(0),
        ..ImportQuery::default()
    };
    let (entries, total) = state.store.list_imports(principal.scope, &query).await?;
    let link = |offset: u32| {
        format!(
            "/console/syncs?entity={}&outcome={}&limit={limit}&offset={offset}",
            encode(&filters.entity),
            encode(&filters.outcome)
        )
    };
    let body = html! {
        form.filters method="get" action="/console/syncs" {
            label for="entity" { "Entity" }
            select #entity name="entity" {
                option value="" { "Any" }
                @for e in Entity::ALL {
                    option value=(e.plural()) selected[entity == Some(e)] { (e.plural()) }
                }
            }
            label for="outcome" { "Outcome" }
            select #outcome name="outcome" {
                option value="" { "Any" }
                @for o in ImportOutcome::ALL {
                    option value=(o.as_str()) selected[outcome == Some(o)] { (outcome_label(o)) }
                }
            }
            button type="submit" { "Filter" }
        }
        @if entries.is_empty() {
            p { "No sync calls match." }
        } @else {
            table #syncs {
                caption.visually-hidden { "Sync calls, newest first" }
                thead { tr {
                    th scope="col" { "When" } th scope="col" { "Call" } th scope="col" { "Entity" }
                    th scope="col" { "Outcome" } th scope="col" .num { "HTTP" }
                    th scope="col" .num { "Records" } th scope="col" .num { "Created" }
                    th scope="col" .num { "Updated" } th scope="col" .num { "Unchanged" }
                    th scope="col" .num { "Rejected" } th scope="col" .num { "ms" }
                } }
                tbody {
                    @for entry in &entries {
                        @let (word, class) = verdict(entry);
                        tr {
                            td { a href={ "/console/syncs/" (entry.id) } { (when(&entry.created_at)) } }
                            td { code { (entry.endpoint) } @if entry.dry_run { " (dry run)" } }
                            td { (entry.entity) }
                            td { span class={ "badge " (class) } { (word) } }
                            td.num { (entry.status) }
                            td.num { (entry.total) }
                            td.num { (entry.created) }
                            td.num { (entry.updated) }
                            td.num { (entry.unchanged) }
                            td.num { (entry.errors) }
                            td.num { (entry.duration_ms) }
                        }
                    }
                }
            }
        }
        (pager(query.offset, limit, entries.len(), total, link))
    };
    Ok(page("Sync history", "/console/syncs", &principal, body))
}

async fn one(
    State(state): State<AppState>,
    Signed(principal): Signed,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let missing = || ConsoleError::NotFound(format!("no sync call with id {id:?}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let entry = state
        .store
        .get_import(principal.scope, uuid)
        .await?
        .ok_or_else(missing)?;
    let (word, class) = verdict(&entry);
    let errors = entry.error_details.as_deref().unwrap_or_default();
    let kept = entry.kept_details.as_deref().unwrap_or_default();
    let body = html! {
        p { a href="/console/syncs" { "← All sync calls" } }
        dl.facts {
            dt { "When" } dd { (when(&entry.created_at)) }
            dt { "Call" } dd { code { (entry.endpoint) } @if entry.dry_run { " (dry run: nothing was written)" } }
            dt { "Entity" } dd { (entry.entity) }
            dt { "Outcome" } dd { span class={ "badge " (class) } { (word) } " — HTTP " (entry.status) }
            dt { "Records" } dd {
                (entry.total) " sent: " (entry.created) " created, " (entry.updated) " updated, "
                (entry.unchanged) " unchanged, " (entry.errors) " rejected"
                @if entry.kept > 0 { "; " (entry.kept) " kept values the shop floor owns" }
            }
            dt { "Sources" } dd { @if entry.sources.is_empty() { "—" } @else { (entry.sources.join(", ")) } }
            dt { "Duration" } dd { (entry.duration_ms) " ms" }
            dt { "Request id" } dd { code { (entry.request_id.as_deref().unwrap_or("—")) } }
            dt { "Key" } dd { code { (entry.key_id) } }
        }
        @if entry.total == 0 && !errors.is_empty() {
            // Refused whole (query string, header, content type, body): there were no records,
            // only the one reason (`history::a_call_refused_whole_is_in_the_history`).
            h2 { "Refused" }
            @for error in errors {
                p #refused {
                    "The call was refused before any record was read: " code { (error.code) } " — "
                    @if let Some(field) = &error.field { code { (field) } ": " }
                    (error.error)
                }
            }
        } @else {
        h2 { "Rejected records" }
        @if errors.is_empty() {
            p { "None: every record of this call was accepted." }
        } @else {
            table #rejected {
                caption.visually-hidden { "Rejected records of this call" }
                thead { tr {
                    th scope="col" .num { "#" } th scope="col" { "External id" }
                    th scope="col" { "Field" } th scope="col" { "Code" } th scope="col" { "Message" }
                } }
                tbody {
                    @for error in errors {
                        tr {
                            td.num { (error.index.map(|i| i.to_string()).unwrap_or_default()) }
                            td { (error.external_id.as_deref().unwrap_or("—")) }
                            td { code { (error.field.as_deref().unwrap_or("—")) } }
                            td { code { (error.code) } }
                            td.message { (error.error) }
                        }
                    }
                }
            }
        }
        }
        @if !kept.is_empty() {
            h2 { "Kept by the shop floor" }
            p { "The call sent these values, but the records kept their own: the floor owns them since it acted on the records." }
            table #kept {
                caption.visually-hidden { "Values the records of this call kept" }
                thead { tr {
                    th scope="col" .num { "#" } th scope="col" { "Record" }
                    th scope="col" { "External id" } th scope="col" { "Field" } th scope="col" { "Why" }
                } }
                tbody {
                    @for note in kept {
                        tr {
                            td.num { (note.index) }
                            td { (note.entity) }
                            td { (note.external_id) }
                            td { code { (note.field) } }
                            td.message { (note.reason) }
                        }
                    }
                }
            }
        }
    };
    Ok(page("Sync call", "/console/syncs", &principal, body))
}
