//! The webhook routes' schemas, parameters and answers (`http/webhooks.rs`): endpoints as
//! registered and listed, deliveries with their attempts, and the replay's window.

use std::collections::BTreeMap;

use serde_json::json;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::Required;

use super::errors::{success_response, Access};
use super::examples::request_body;
use super::parameters::{limit, offset, query};
use super::schemas::{
    array_of, boolean, count, described, exactly, nullable, one_of, schema_ref, string,
    string_with_examples, timestamp, uuid, Object, S,
};
use super::Completion;
use crate::domain::delivery::STATUSES;
use crate::domain::webhook::{MAX_DESCRIPTION, MAX_URL};

const WITH_BODY: &[&str] = &[
    "VALIDATION_ERROR",
    "NOT_FOUND",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
];
const BY_ID: &[&str] = &["VALIDATION_ERROR", "NOT_FOUND"];

fn event_types() -> S {
    described(
        array_of(string_with_examples(&["operation.completed", "job.*"])),
        "Event types, or `kind.*` for every event of a kind; an unknown one is refused.",
    )
}

fn input(patch: bool) -> S {
    let url = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_URL))
        .examples(["https://erp.example.com/webhooks/eryxon"])
        .description(Some(
            "`https` to a public address. Loopback, private, link-local, CGNAT, multicast and \
             other non-public addresses, and plain `http`, are refused (400) unless the \
             operator opened their network with ERYXON_WEBHOOK_ALLOWED_NETWORKS. A name is not \
             resolved when saved; every attempt resolves it and sends nothing to a refused \
             address.",
        ))
        .into();
    let description = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_DESCRIPTION))
        .into();
    let mut object = Object::default();
    object
        .field("url", url, !patch)
        .field("events", event_types(), false)
        .field(
            "event_type",
            described(
                string(),
                "One event type instead of `events`, as Eryxon's clients send it.",
            ),
            false,
        )
        .field(
            "active",
            described(boolean(), "Default when registering: true."),
            false,
        )
        .field(
            "description",
            if patch {
                described(nullable(description), "`null` clears it.")
            } else {
                description
            },
            false,
        );
    let about = if patch {
        "Fields left out stay as they are; `null` clears `description` and is refused (400) \
         for the others."
    } else {
        "`events` or `event_type` is required, not both."
    };
    described(object.build(true), about)
}

fn endpoint() -> S {
    let mut object = Object::default();
    object
        .field("id", uuid(), true)
        .field("url", string(), true)
        .field("events", array_of(string()), true)
        .field("active", boolean(), true)
        .field("description", nullable(string()), true)
        .field(
            "disabled_reason",
            described(
                nullable(string()),
                "Why the server stopped sending to it (410 Gone, 5 days of failures), when it did.",
            ),
            true,
        )
        .field("created_at", timestamp(), true)
        .field("updated_at", timestamp(), true)
        .field(
            "secret",
            described(
                string_with_examples(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]),
                "The signing secret: only in the answers of registering and rotate-secret.",
            ),
            false,
        );
    object.build(false)
}

fn delivery() -> S {
    let mut attempt = Object::default();
    attempt
        .field("at", timestamp(), true)
        .field("http_status", nullable(count()), true)
        .field(
            "error",
            described(
                nullable(string()),
                "Why it failed: the status, a timeout, a connection error, or `refused: …` for \
                 an address the network rules refuse.",
            ),
            true,
        )
        .field("latency_ms", count(), true)
        .field(
            "response",
            described(nullable(string()), "The first KiB of the answer."),
            true,
        );
    let mut object = Object::default();
    let payload = ObjectBuilder::new().schema_type(Type::Object).into();
    object
        .field("id", uuid(), true)
        .field("webhook_id", uuid(), true)
        .field(
            "event_id",
            described(
                string(),
                "The `webhook-id` header, the same on every attempt.",
            ),
            true,
        )
        .field("event_type", string(), true)
        .field("status", one_of(STATUSES).into(), true)
        .field("attempts", count(), true)
        .field("next_attempt_at", nullable(timestamp()), true)
        .field("last_error", nullable(string()), true)
        .field("created_at", timestamp(), true)
        .field("delivered_at", nullable(timestamp()), true)
        .field("payload", described(payload, "The body as sent."), true)
        .field("attempt_log", array_of(attempt.build(false)), true);
    object.build(false)
}

fn replay_input() -> S {
    let mut object = Object::default();
    object
        .field("since", timestamp(), true)
        .field(
            "until",
            described(timestamp(), "After `since`; default: now."),
            false,
        )
        .field(
            "types",
            described(
                event_types(),
                "Default: every type the endpoint subscribes to.",
            ),
            false,
        );
    object.build(true)
}

/// The schemas under `components/schemas`.
pub fn schemas(schemas: &mut BTreeMap<String, S>) {
    schemas.insert("WebhookInput".into(), input(false));
    schemas.insert("WebhookChange".into(), input(true));
    schemas.insert("Webhook".into(), endpoint());
    schemas.insert("WebhookDelivery".into(), delivery());
    schemas.insert("WebhookReplayInput".into(), replay_input());
}

fn id_query(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    let mut parameter = query(name, uuid(), description);
    parameter.required = Required::True;
    parameter
}

fn status_query() -> utoipa::openapi::path::Parameter {
    query(
        "status",
        one_of(STATUSES).into(),
        "Only deliveries in this status.",
    )
}

/// The answers of the operation `id`, when it is a webhook route's.
pub(super) fn completion(id: &str) -> Option<Completion> {
    let key = Access::Key;
    let ok =
        |description: &str, data: S| vec![(200, success_response(description, key, 200, data))];
    let accepted =
        |description: &str, data: S| vec![(202, success_response(description, key, 202, data))];
    let of = |successes, codes: &'static [&'static str]| Completion {
        access: key,
        successes,
        codes: Some(codes),
        parameters: Vec::new(),
        body: None,
    };
    let mut many = Object::default();
    many.field("webhooks", array_of(schema_ref("Webhook")), true)
        .field("total", count(), true);
    let mut deleted = Object::default();
    deleted
        .field("id", uuid(), true)
        .field("deleted", exactly(true).into(), true);
    let mut queued = Object::default();
    queued
        .field("delivery_id", uuid(), true)
        .field("event_id", string(), true);
    let mut replayed = Object::default();
    replayed.field("queued", count(), true).field(
        "resume_from",
        described(
            timestamp(),
            "Only when the replay stopped at its limit (10 000 events) before the range's end: \
             when the first event it left out occurred; replay again with it as `since`.",
        ),
        false,
    );
    let mut deliveries = Object::default();
    deliveries.field(
        "deliveries",
        described(array_of(schema_ref("WebhookDelivery")), "Newest first."),
        true,
    );
    let change = || {
        request_body(
            "WebhookChange",
            vec![("pause", "Stop sending for now", json!({"active": false}))],
        )
    };
    Some(match id {
        "createWebhook" => Completion {
            body: Some(request_body(
                "WebhookInput",
                vec![
                    (
                        "events",
                        "Operations starting and completing",
                        json!({"url": "https://erp.example.com/webhooks/eryxon",
                            "events": ["operation.started", "operation.completed"]}),
                    ),
                    (
                        "event_type",
                        "One event type, as Eryxon's clients send it",
                        json!({"url": "https://erp.example.com/webhooks/eryxon",
                            "event_type": "job.completed", "description": "ERP"}),
                    ),
                ],
            )),
            ..of(
                vec![(
                    201,
                    success_response(
                        "The endpoint with its secret, shown only here.",
                        key,
                        201,
                        schema_ref("Webhook"),
                    ),
                )],
                &[
                    "VALIDATION_ERROR",
                    "PAYLOAD_TOO_LARGE",
                    "UNSUPPORTED_MEDIA_TYPE",
                ],
            )
        },
        "listWebhooks" => {
            let answer = OneOfBuilder::new()
                .item(many.build(false))
                .item(schema_ref("Webhook"))
                .into();
            let parameters = vec![
                query(
                    "id",
                    uuid(),
                    "One endpoint, answered alone (404 when unknown).",
                ),
                query(
                    "active",
                    boolean(),
                    "Only active or only inactive endpoints.",
                ),
                query(
                    "event_type",
                    string_with_examples(&["job.completed", "operation.*"]),
                    "Only endpoints that receive some of these event types (names, or a kind \
                     with .*, comma-separated, as the feed's `types`).",
                ),
                limit(),
                offset(),
            ];
            Completion {
                parameters,
                ..of(
                    ok(
                        "A page of endpoints with their total, or the one of `id`.",
                        answer,
                    ),
                    BY_ID,
                )
            }
        }
        "getWebhook" => of(ok("The endpoint.", schema_ref("Webhook")), BY_ID),
        "updateWebhook" => Completion {
            body: Some(change()),
            ..of(
                ok("The endpoint as changed.", schema_ref("Webhook")),
                WITH_BODY,
            )
        },
        "updateWebhookById" => Completion {
            body: Some(change()),
            parameters: vec![id_query("id", "The endpoint's id.")],
            ..of(
                ok("The endpoint as changed.", schema_ref("Webhook")),
                WITH_BODY,
            )
        },
        "deleteWebhook" => of(
            ok("Deleted, with its deliveries.", deleted.build(false)),
            BY_ID,
        ),
        "deleteWebhookById" => Completion {
            parameters: vec![id_query("id", "The endpoint's id.")],
            ..of(
                ok("Deleted, with its deliveries.", deleted.build(false)),
                BY_ID,
            )
        },
        "rotateWebhookSecret" => of(
            ok(
                "The endpoint with its new secret, shown only here.",
                schema_ref("Webhook"),
            ),
            BY_ID,
        ),
        "testWebhook" => of(
            accepted(
                "Queued; its outcome shows in the deliveries.",
                queued.build(false),
            ),
            &["VALIDATION_ERROR", "NOT_FOUND", "CONFLICT"],
        ),
        "listWebhookDeliveries" => Completion {
            parameters: vec![status_query(), limit(), offset()],
            ..of(
                ok("The endpoint's deliveries.", deliveries.build(false)),
                BY_ID,
            )
        },
        "listWebhookLogs" => Completion {
            parameters: vec![
                query("webhook_id", uuid(), "Only this endpoint's deliveries."),
                status_query(),
                limit(),
                offset(),
            ],
            ..of(ok("The deliveries.", deliveries.build(false)), BY_ID)
        },
        "retryWebhookDelivery" => of(
            accepted("Due now.", queued.build(false)),
            &["VALIDATION_ERROR", "NOT_FOUND", "CONFLICT"],
        ),
        "replayWebhookEvents" => Completion {
            body: Some(request_body(
                "WebhookReplayInput",
                vec![(
                    "weekend",
                    "What a receiver missed over a weekend",
                    json!({"since": "2026-01-10T00:00:00Z", "until": "2026-01-12T06:00:00Z",
                        "types": ["operation.*"]}),
                )],
            )),
            ..of(
                accepted("The events queued again.", replayed.build(false)),
                &[
                    "VALIDATION_ERROR",
                    "NOT_FOUND",
                    "CONFLICT",
                    "PAYLOAD_TOO_LARGE",
                    "UNSUPPORTED_MEDIA_TYPE",
                ],
            )
        },
        _ => return None,
    })
}
