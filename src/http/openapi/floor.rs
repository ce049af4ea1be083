//! The shop floor's lifecycle routes and time entries (`http/floor.rs`) and the event feed
//! (`http/events.rs`). One handler serves both machines' routes (the router tells it which),
//! which `#[utoipa::path]` cannot describe, so the operations are built here.

use std::collections::BTreeMap;

use serde_json::json;
use utoipa::openapi::path::{HttpMethod, Parameter};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::Required;
use utoipa::PartialSchema;

use super::entities::{Op, Routes};
use super::errors::{success_response, Access};
use super::examples::request_body;
use super::parameters::{external_key, limit, offset, path, query};
use super::schemas::{
    array_of, count, described, nullable, one_of, schema_ref, string, string_with_examples,
    timestamp, uuid, Object, S,
};
use crate::domain::event::all_types;
use crate::domain::floor::Machine;
use crate::domain::value::{LongText, ShortText, WorkStatus};

pub const EVENTS_TAG: &str = "Events";

const ACTION_CODES: &[&str] = &[
    "VALIDATION_ERROR",
    "INVALID_STATE_TRANSITION",
    "NOT_FOUND",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
];

fn status() -> S {
    one_of(WorkStatus::ALL.iter().map(|s| s.as_str())).into()
}

fn nullable_text() -> S {
    nullable(string())
}

fn report() -> S {
    let mut object = Object::default();
    object
        .field(
            "operator",
            described(
                ShortText::schema(),
                "Who did it; on start and resume it is written on the time entry opened.",
            ),
            false,
        )
        .field(
            "at",
            described(
                timestamp(),
                "When it happened (RFC 3339), for a terminal that reports late; default: now. \
                 Not more than 60 s ahead of the server, not before the record's previous \
                 transition.",
            ),
            false,
        )
        .field("note", LongText::schema(), false);
    object.build(true)
}

fn job_progress() -> S {
    let mut object = Object::default();
    object
        .field("id", uuid(), true)
        .field("external_source", string(), true)
        .field("external_id", string(), true)
        .field("job_number", string(), true)
        .field("status", status(), true)
        .field(
            "started_at",
            described(nullable(timestamp()), "The first start."),
            true,
        )
        .field("paused_at", nullable(timestamp()), true)
        .field("resumed_at", nullable(timestamp()), true)
        .field("completed_at", nullable(timestamp()), true)
        .field(
            "actual_duration_minutes",
            described(count(), "Minutes in progress, stops excluded."),
            true,
        )
        .field("updated_at", timestamp(), true);
    object.build(false)
}

fn time_entry() -> S {
    let mut object = Object::default();
    object
        .field("id", uuid(), true)
        .field("operation_id", uuid(), true)
        .field("operator", nullable_text(), true)
        .field("note", nullable_text(), true)
        .field("start_time", timestamp(), true)
        .field(
            "end_time",
            described(nullable(timestamp()), "null while the entry is open."),
            true,
        )
        .field("duration_minutes", nullable(count()), true);
    described(
        object.build(false),
        "A stretch of work on an operation: start and resume open one, pause and complete \
         close it.",
    )
}

fn acted(machine: Machine) -> S {
    let actions = actions(machine);
    let mut object = Object::default();
    match machine {
        Machine::Operation => {
            object
                .field("operation", schema_ref("OperationProgress"), true)
                .field(
                    "operation_type",
                    described(one_of(actions).into(), "The action taken."),
                    true,
                )
                .field("previous_status", status(), true)
                .field("new_status", status(), true)
                .field(
                    "time_entry_ended",
                    described(
                        ObjectBuilder::new().schema_type(Type::Boolean).into(),
                        "Whether the action closed a time entry (pause, complete of an \
                         operation with one open), as Eryxon answers it.",
                    ),
                    true,
                )
                .field(
                    "ended_time_entry",
                    OneOfBuilder::new()
                        .item(schema_ref("TimeEntry"))
                        .item(ObjectBuilder::new().schema_type(Type::Null))
                        .description(Some(
                            "The time entry the action closed (pause, complete), if one was \
                             open; otherwise null.",
                        ))
                        .into(),
                    true,
                );
        }
        Machine::Job => {
            object
                .field("job", schema_ref("JobProgress"), true)
                .field(
                    "operation",
                    described(one_of(actions).into(), "The action taken."),
                    true,
                )
                .field("previous_status", status(), true)
                .field("new_status", status(), true);
        }
    }
    object.build(false)
}

fn event() -> S {
    let mut object = Object::default();
    let id = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^evt_[0-9a-f]{32}$"))
        .examples(["evt_0190a1b2c3d47e5f8a9b0c1d2e3f4a5b"]);
    let entity = one_of(["job", "part", "operation", "cell", "resource"]).into();
    let data = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "The record as GET shows it right after the change (a deletion: its ids and external \
         ids), with previous_status and new_status for a transition; for production.\
         quantity_reported the report and the operation's totals; for sync.completed the \
         endpoint, the counts and the history entry's id.",
        ));
    object
        .field("id", id.into(), true)
        .field("type", one_of(all_types()).into(), true)
        .field("occurred_at", timestamp(), true)
        .field(
            "entity",
            described(nullable(entity), "null for sync.completed."),
            true,
        )
        .field("record_id", nullable(uuid()), true)
        .field("external_source", nullable_text(), true)
        .field("external_id", nullable_text(), true)
        .field("data", data.into(), true);
    object.build(false)
}

/// The schemas under `components/schemas`.
pub fn schemas(schemas: &mut BTreeMap<String, S>) {
    schemas.insert("LifecycleReport".into(), report());
    schemas.insert("JobProgress".into(), job_progress());
    schemas.insert("TimeEntry".into(), time_entry());
    schemas.insert("OperationActed".into(), acted(Machine::Operation));
    schemas.insert("JobActed".into(), acted(Machine::Job));
    schemas.insert("Event".into(), event());
    let mut page = Object::default();
    page.field("events", array_of(schema_ref("Event")), true)
        .field(
            "next_cursor",
            described(
                string(),
                "Pass as after for the next page; after the last event, pass it later for \
                 what has been written since.",
            ),
            true,
        )
        .field("has_more", boolean_schema(), true);
    schemas.insert("EventPage".into(), page.build(false));
}

fn boolean_schema() -> S {
    ObjectBuilder::new().schema_type(Type::Boolean).into()
}

fn actions(machine: Machine) -> [&'static str; 4] {
    match machine {
        Machine::Operation => ["start", "pause", "resume", "complete"],
        Machine::Job => ["start", "stop", "resume", "complete"],
    }
}

fn optional_body() -> RequestBody {
    let mut body = request_body(
        "LifecycleReport",
        vec![
            ("now", "Now, by an operator", json!({"operator": "ana"})),
            (
                "late",
                "Reported late by a terminal that was offline",
                json!({"operator": "ana", "at": "2024-05-01T08:30:00Z",
                    "note": "terminal 7 was offline"}),
            ),
        ],
    );
    body.required = Some(Required::False);
    body.description = Some("Optional: no body acts now, without an operator.".to_owned());
    body
}

fn lifecycle(machine: Machine, routes: &mut Routes) {
    let (noun, lifecycle, plural, title, answer, transitions) = match machine {
        Machine::Operation => (
            "operation",
            "/api-operation-lifecycle",
            "operations",
            "Operation",
            "OperationActed",
            "not_started → start → in_progress; in_progress → pause → on_hold; on_hold → \
             resume → in_progress; in_progress → complete → completed (final). Start and \
             resume open a time entry, pause and complete close it; when every live operation \
             of a part is completed, the part is completed too.",
        ),
        Machine::Job => (
            "job",
            "/api-job-lifecycle",
            "jobs",
            "Job",
            "JobActed",
            "not_started or on_hold → start → in_progress; in_progress → stop → on_hold; \
             on_hold → resume → in_progress; in_progress → complete → completed (final).",
        ),
    };
    let action = || {
        path(
            "action",
            one_of(actions(machine)).into(),
            "The action. Another is refused (400 VALIDATION_ERROR).",
        )
    };
    let description = format!(
        "{transitions} The {noun}'s status and times are the floor's from then on: a sync no \
         longer changes them. Writes a {noun}.<action>d event. Also served under \
         /functions/v1, as Eryxon's hosted API. An action the status does not allow answers \
         400 INVALID_STATE_TRANSITION, naming the status and the actions it allows."
    );
    let ok = || {
        vec![(
            200,
            success_response(
                &format!("The {noun} after the action."),
                Access::Key,
                200,
                schema_ref(answer),
            ),
        )]
    };
    let mut id = query("id", uuid(), &format!("The {noun}'s id."));
    id.required = Required::True;
    let user_id = query(
        "user_id",
        ShortText::schema(),
        "The operator, as Eryxon's clients send it; the body's operator wins.",
    );
    let verbs = actions(machine).join(", ");
    routes.add(
        &format!("{lifecycle}/{{action}}"),
        HttpMethod::Post,
        Op {
            id: format!("act{title}"),
            tag: crate::http::quantities::TAG,
            summary: format!("Act on a {noun}: {verbs}"),
            description: &description,
            parameters: vec![action(), id, user_id],
            body: Some(optional_body()),
        },
        Access::Key,
        ok(),
        ACTION_CODES,
    );
    let mut parameters: Vec<Parameter> = external_key().into();
    parameters.push(action());
    routes.add(
        &format!("/api-{plural}/by-external/{{external_source}}/{{external_id}}/{{action}}"),
        HttpMethod::Post,
        Op {
            id: format!("act{title}ByExternalId"),
            tag: crate::http::quantities::TAG,
            summary: format!("Act on a {noun} named by the ERP's key: {verbs}"),
            description: &description,
            parameters,
            body: Some(optional_body()),
        },
        Access::Key,
        ok(),
        ACTION_CODES,
    );
}

fn time_entries(routes: &mut Routes) {
    let mut list = Object::default();
    list.field(
        "time_entries",
        described(array_of(schema_ref("TimeEntry")), "Oldest first."),
        true,
    )
    .field("pagination", schema_ref("Pagination"), true);
    let ok = success_response("The entries.", Access::Key, 200, list.build(false));
    let mut id = query("operation_id", uuid(), "The operation's id.");
    id.required = Required::True;
    routes.add(
        "/api-time-entries",
        HttpMethod::Get,
        Op {
            id: "listTimeEntries".into(),
            tag: crate::http::quantities::TAG,
            summary: "An operation's time entries".into(),
            description: "Oldest first, the open one (if any) last.",
            parameters: vec![id, limit(), offset()],
            body: None,
        },
        Access::Key,
        vec![(200, ok)],
        &["VALIDATION_ERROR", "NOT_FOUND"],
    );
}

fn events(routes: &mut Routes) {
    let types = all_types();
    let parameters = vec![
        query(
            "after",
            string(),
            "A next_cursor from an earlier page: the events written after it. Left out: from \
             the oldest event kept. A cursor older than the kept events answers 410 \
             CURSOR_EXPIRED.",
        ),
        query(
            "types",
            string_with_examples(&["job.*,operation.completed"]),
            &format!(
                "Comma-separated event types, or a prefix and .* for a family. The types: {}.",
                types.join(", ")
            ),
        ),
        query(
            "entity",
            one_of(["job", "part", "operation", "cell", "resource"]).into(),
            "Only events about records of this kind.",
        ),
        query(
            "external_source",
            string(),
            "Only events about records of this ERP system.",
        ),
        limit(),
    ];
    let ok = success_response(
        "A page of events, oldest first.",
        Access::Key,
        200,
        schema_ref("EventPage"),
    );
    routes.add(
        "/api-events",
        HttpMethod::Get,
        Op {
            id: "listEvents".into(),
            tag: EVENTS_TAG,
            summary: "Read the event log".into(),
            description:
                "Every change writes its events in the same transaction as the change itself: a \
         rolled-back or dry-run call writes none, an unchanged re-send writes none. A reader \
         that follows next_cursor sees every committed event exactly once. Events are kept \
         ERYXON_EVENT_RETENTION_DAYS days (30 by default).",
            parameters,
            body: None,
        },
        Access::Key,
        vec![(200, ok)],
        &["VALIDATION_ERROR", "CURSOR_EXPIRED"],
    );
    let ok = success_response("The event.", Access::Key, 200, schema_ref("Event"));
    routes.add(
        "/api-events/{id}",
        HttpMethod::Get,
        Op {
            id: "getEvent".into(),
            tag: EVENTS_TAG,
            summary: "One event".into(),
            description: "By its id, while it is kept.",
            parameters: vec![path(
                "id",
                string_with_examples(&["evt_0190a1b2c3d47e5f8a9b0c1d2e3f4a5b"]),
                "The event's id.",
            )],
            body: None,
        },
        Access::Key,
        vec![(200, ok)],
        &["NOT_FOUND"],
    );
}

/// The floor's and the feed's routes.
pub fn floor_routes(routes: &mut Routes) {
    lifecycle(Machine::Operation, routes);
    lifecycle(Machine::Job, routes);
    time_entries(routes);
    events(routes);
}
