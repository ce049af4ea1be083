//! `GET /console/jobs`: search the jobs; `GET /console/jobs/{id}`: one job as a tree of its
//! parts and their operations, with status, progress, quantities and each operation's time
//! entries.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::session::Signed;
use super::{encode, field, page, pager, rows, when, ConsoleError, PageQuery};
use crate::domain::progress::TimeEntry;
use crate::domain::quantity::QuantityReport;
use crate::domain::view::RecordView;
use crate::domain::Entity;
use crate::http::AppState;
use crate::store::{ListQuery, RecordRef, Window};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/jobs", get(list))
        .route("/console/jobs/{id}", get(one))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    #[serde(default)]
    q: String,
    offset: Option<u32>,
    limit: Option<u32>,
}

fn status(record: &RecordView) -> Markup {
    let status = field(record, "status");
    let class = match status.as_str() {
        "completed" => "good",
        "in_progress" => "busy",
        "on_hold" | "paused" => "warn",
        _ => "idle",
    };
    html! { span class={ "badge " (class) } { (status.replace('_', " ")) } }
}

async fn list(
    State(state): State<AppState>,
    Signed(principal): Signed,
    PageQuery(search): PageQuery<Search>,
) -> Result<Response, ConsoleError> {
    let limit = rows(search.limit);
    let text = search.q.trim();
    let query = ListQuery {
        search: (!text.is_empty()).then(|| text.to_owned()),
        limit,
        offset: search.offset.unwrap_or(0),
        ..ListQuery::default()
    };
    let mut found = state
        .store
        .list(principal.scope, Entity::Jobs, &query)
        .await?;
    // The ERP's key is what an operator looks an order up by: a job whose external id is the
    // text comes first, beside what the text search finds in numbers and customers
    // (`console_pages::the_pages_read_each_engine`).
    if query.search.is_some() && query.offset == 0 {
        let exact = ListQuery {
            external_ids: vec![text.to_owned()],
            limit,
            ..ListQuery::default()
        };
        let keyed = state
            .store
            .list(principal.scope, Entity::Jobs, &exact)
            .await?;
        let new: Vec<_> = keyed
            .records
            .into_iter()
            .filter(|k| !found.records.iter().any(|r| r.id == k.id))
            .collect();
        found.total += new.len() as u64;
        found.records.splice(0..0, new);
        found.records.truncate(limit as usize);
    }
    let link = |offset: u32| {
        format!(
            "/console/jobs?q={}&limit={limit}&offset={offset}",
            encode(text)
        )
    };
    let body = html! {
        form.filters method="get" action="/console/jobs" role="search" {
            label for="q" { "Search jobs" }
            input #q type="search" name="q" value=(text) placeholder="number, customer, external id";
            button type="submit" { "Search" }
        }
        @if found.records.is_empty() {
            p { "No jobs match." }
        } @else {
            table #jobs {
                caption.visually-hidden { "Jobs" }
                thead { tr {
                    th scope="col" { "Job" } th scope="col" { "External id" }
                    th scope="col" { "Customer" } th scope="col" { "Due" }
                    th scope="col" { "Status" } th scope="col" { "Updated" }
                } }
                tbody {
                    @for job in &found.records {
                        tr {
                            td { a href={ "/console/jobs/" (job.id) } { (field(job, "job_number")) } }
                            td { (job.external_source.as_deref().unwrap_or("")) " " (job.external_id) }
                            td { (field(job, "customer")) }
                            td { (field(job, "due_date")) }
                            td { (status(job)) }
                            td { (when(&job.updated_at)) }
                        }
                    }
                }
            }
        }
        (pager(query.offset, limit, found.records.len(), found.total, link))
    };
    Ok(page("Records", "/console/jobs", &principal, body))
}

/// An operation's floor data.
struct Floor {
    entries: Vec<TimeEntry>,
    reports: Vec<QuantityReport>,
}

fn number(record: &RecordView, name: &str) -> i64 {
    field(record, name).parse().unwrap_or(0)
}

fn progress(label: &str, done: i64, of: i64) -> Markup {
    let of = of.max(1);
    let done = done.clamp(0, of);
    html! {
        progress max=(of) value=(done) aria-label=(label) {}
        " " (done * 100 / of) " %"
    }
}

fn quantities(record: &RecordView) -> Markup {
    html! {
        span.qty {
            "good " (field(record, "quantity_good")) ", scrap " (field(record, "quantity_scrap"))
            ", rework " (field(record, "quantity_rework"))
        }
    }
}

fn operation(op: &RecordView, planned: i64, floor: &Floor) -> Markup {
    let name = field(op, "operation_name");
    html! {
        li.operation {
            details open {
                summary {
                    span.seq { (field(op, "sequence")) }
                    " " strong { (name) } " "
                    (status(op)) " "
                    span.cell { "in " (field(op, "cell_id")) } " · "
                    (progress(&format!("Good of planned for {name}"), number(op, "quantity_good"), planned))
                    " · " (quantities(op))
                }
                @if floor.entries.is_empty() {
                    p.hint { "No time entries." }
                } @else {
                    table.compact.entries {
                        caption { "Time entries of " (name) }
                        thead { tr {
                            th scope="col" { "Operator" } th scope="col" { "Start" }
                            th scope="col" { "End" } th scope="col" .num { "Minutes" } th scope="col" { "Note" }
                        } }
                        tbody {
                            @for entry in &floor.entries {
                                tr {
                                    td { (entry.operator.as_deref().unwrap_or("—")) }
                                    td { (when(&entry.start_time)) }
                                    td { @match &entry.end_time { Some(end) => (when(end)), None => "open" } }
                                    td.num { (entry.duration_minutes.map(|m| m.to_string()).unwrap_or_default()) }
                                    td { (entry.note.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
                @if !floor.reports.is_empty() {
                    table.compact {
                        caption { "Quantity reports of " (name) }
                        thead { tr {
                            th scope="col" { "Recorded" } th scope="col" .num { "Good" }
                            th scope="col" .num { "Scrap" } th scope="col" .num { "Rework" }
                            th scope="col" { "Operator" }
                        } }
                        tbody {
                            @for report in &floor.reports {
                                tr {
                                    td { (when(&report.recorded_at)) }
                                    td.num { (report.good) } td.num { (report.scrap) } td.num { (report.rework) }
                                    td { (report.operator.as_deref().unwrap_or("—")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Operations whose time entries and reports are read; a bigger job shows the rest without.
const FLOOR_READS: usize = 300;

/// The time entries and reports shown per operation: the first 1000, as a page of the API.
const SHOWN: Window = Window {
    limit: 1000,
    offset: 0,
};

async fn one(
    State(state): State<AppState>,
    Signed(principal): Signed,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let missing = || ConsoleError::NotFound(format!("no job with id {id:?}"));
    let uuid = Uuid::parse_str(&id).map_err(|_| missing())?;
    let scope = principal.scope;
    let job = state
        .store
        .get(scope, Entity::Jobs, &RecordRef::Id(uuid), false)
        .await?
        .ok_or_else(missing)?;
    let parts = job.children.as_deref().unwrap_or_default();
    let mut floors = Vec::new();
    let (mut ops_done, mut ops_total) = (0, 0);
    for part in parts {
        for op in part.children.as_deref().unwrap_or_default() {
            ops_total += 1;
            ops_done += i64::from(field(op, "status") == "completed");
            let floor = if floors.len() < FLOOR_READS {
                Floor {
                    entries: state
                        .store
                        .time_entries(scope, op.id, SHOWN)
                        .await?
                        .map(|w| w.items)
                        .unwrap_or_default(),
                    reports: state
                        .store
                        .quantity_reports(scope, op.id, SHOWN)
                        .await?
                        .map(|w| w.items)
                        .unwrap_or_default(),
                }
            } else {
                Floor {
                    entries: Vec::new(),
                    reports: Vec::new(),
                }
            };
            floors.push(floor);
        }
    }
    let mut floors = floors.iter();
    let title = format!("Job {}", field(&job, "job_number"));
    let body = html! {
        p { a href="/console/jobs" { "← All jobs" } }
        dl.facts {
            dt { "External id" } dd { (job.external_source.as_deref().unwrap_or("")) " " (job.external_id) }
            dt { "Customer" } dd { (field(&job, "customer")) }
            dt { "Due" } dd { (field(&job, "due_date")) }
            dt { "Status" } dd { (status(&job)) }
            dt { "Operations completed" } dd { (progress("Operations completed", ops_done, ops_total)) }
            dt { "Synced" } dd { @if let Some(at) = &job.synced_at { (when(at)) } }
            dt { "Updated" } dd { (when(&job.updated_at)) }
        }
        h2 { "Parts and operations" }
        @if parts.is_empty() { p { "This job has no parts." } }
        ul.tree #tree {
            @for part in parts {
                @let planned = number(part, "quantity");
                li.part {
                    details open {
                        summary {
                            strong { "Part " (field(part, "part_number")) } " "
                            span.hint { "(" (part.external_id) ")" } " "
                            (status(part)) " · planned " (planned) " · "
                            (progress(&format!("Good of planned for part {}", field(part, "part_number")), number(part, "quantity_good"), planned))
                            " · " (quantities(part))
                        }
                        ul {
                            @for op in part.children.as_deref().unwrap_or_default() {
                                @if let Some(floor) = floors.next() {
                                    (operation(op, planned, floor))
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&title, "/console/jobs", &principal, body))
}
