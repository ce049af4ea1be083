//! What every answer carries: the error codes and their statuses, the response headers, the
//! success envelope, and the error answers shared under `components/responses`.

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Ref, SchemaType};
use utoipa::openapi::{ContentBuilder, RefOr};

use super::parameters::idempotency_key;
use super::schemas::{exactly, integer, one_of, schema_ref, string, Object, S};

/// An error code the API answers with.
pub struct ErrorInfo {
    pub code: &'static str,
    pub status: u16,
    when: &'static str,
}

const fn error(code: &'static str, status: u16, when: &'static str) -> ErrorInfo {
    ErrorInfo { code, status, when }
}

/// Every code of `ApiError`, with its status (the unit tests check both against error.rs).
pub const ERRORS: &[ErrorInfo] = &[
    error("VALIDATION_ERROR", 400, "Malformed JSON (with line and column), wrong type, missing or unknown field or query parameter, bad enum, date, color or range, too many records."),
    error("UNAUTHORIZED", 401, "Missing, malformed, unknown or revoked API key."),
    error("FORBIDDEN", 403, "The API key lacks the scope this call needs (`sync`, `floor`, `read` or `webhooks`); the message names it."),
    error("NOT_FOUND", 404, "No record with that id for this key (also: an unknown path)."),
    error("METHOD_NOT_ALLOWED", 405, "Known path, wrong method."),
    error("REQUEST_TIMEOUT", 408, "The request took longer than the server's time limit (ERYXON_REQUEST_TIMEOUT_SECS)."),
    error("INVALID_STATE_TRANSITION", 400, "A lifecycle action the record's status does not allow; the message names the status and the actions it allows."),
    error("CONFLICT", 409, "Deleting a cell that live operations still run in, or a record (or a replace leaving out one) that the shop floor has worked on (the message names them); retrying a webhook delivery that is being sent; a test, retry or replay to a disabled webhook endpoint."),
    error("CURSOR_EXPIRED", 410, "An event feed cursor older than the kept events."),
    error("IDEMPOTENCY_IN_PROGRESS", 409, "The first request with this Idempotency-Key still runs."),
    error("PAYLOAD_TOO_LARGE", 413, "Body over the server's limit (32 MiB by default)."),
    error("UNSUPPORTED_MEDIA_TYPE", 415, "Body not sent as application/json."),
    error("REFERENCE_NOT_FOUND", 422, "A parent or cell that does not resolve (deleted records do not count)."),
    error("AMBIGUOUS_REFERENCE", 422, "A cell name that two active cells share."),
    error("IDEMPOTENCY_KEY_REUSED", 422, "This Idempotency-Key came with a different request."),
    error("IDEMPOTENCY_MISMATCH", 422, "This client_event_id came with a different quantity report; the message names the fields that differ."),
    error("RATE_LIMITED", 429, "Over the key's per-minute limit; Retry-After says when to retry."),
    error("INTERNAL_ERROR", 500, "A fault on the server's side, without internals; quote the X-Request-Id."),
    error("SERVICE_UNAVAILABLE", 503, "The database is unreachable; retry later."),
];

pub fn error_info(code: &str) -> &'static ErrorInfo {
    ERRORS
        .iter()
        .find(|e| e.code == code)
        .unwrap_or_else(|| panic!("{code} is listed in ERRORS"))
}

/// Who may call an operation, which decides the headers of its answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Key,
    /// A write: authenticated, and taking an `Idempotency-Key`.
    KeyIdempotent,
}

impl Access {
    /// What a call by `method` is: every keyed write takes an `Idempotency-Key`, as
    /// `http::idempotency::guard` serves every method but `GET` and `HEAD`.
    pub fn of(self, method: &HttpMethod) -> Access {
        match (self, method) {
            (Access::Key, HttpMethod::Get | HttpMethod::Head) => Access::Key,
            (Access::Key, _) => Access::KeyIdempotent,
            (access, _) => access,
        }
    }
}

/// Whether an answer with this status may be the replay of an earlier one: a replay repeats
/// whatever the first call answered, except failures on the server's side and the refusals
/// that come before the idempotency check (key, scope, rate, body size).
fn replayable(status: u16) -> bool {
    matches!(status, 200..=299 | 400 | 404 | 409 | 415 | 422)
}

/// The parameter and the success answers' header of a write that takes an
/// `Idempotency-Key` (`Access::of`); its refusals come with its error answers
/// (`error_responses`).
pub fn make_idempotent(operation: &mut Operation) {
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(idempotency_key());
    for (status, answer) in operation.responses.responses.iter_mut() {
        let status: u16 = status.parse().expect("statuses are numbers");
        if let RefOr::T(answer) = answer {
            if replayable(status) {
                answer
                    .headers
                    .insert(REPLAYED.to_owned(), replayed_header());
            }
        }
    }
}

/// The idempotency check's own refusals.
const IDEMPOTENCY_CODES: [&str; 2] = ["IDEMPOTENCY_IN_PROGRESS", "IDEMPOTENCY_KEY_REUSED"];

const REPLAYED: &str = "Idempotent-Replayed";

fn replayed_header() -> utoipa::openapi::header::Header {
    header(
        "true when this answer is the replay of an earlier request with the same \
         Idempotency-Key.",
        one_of(["true"]).into(),
    )
}

fn header(description: &str, schema: S) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .description(Some(description))
        .schema(schema)
        .build()
}

fn add_headers(mut response: ResponseBuilder, access: Access, status: u16) -> ResponseBuilder {
    response = response.header(
        "X-Request-Id",
        header(
            "The request's id (the client's own X-Request-Id if it sent one); quote it when \
             reporting a problem.",
            string(),
        ),
    );
    // Written by the authentication middleware once the key is known, so neither a refused
    // key nor an answer cut short by the time limit carries them.
    if access != Access::Public && status != 401 && status != 408 {
        for (name, description) in [
            ("X-RateLimit-Limit", "Requests allowed per key per minute."),
            (
                "X-RateLimit-Remaining",
                "Requests left in the current minute.",
            ),
            (
                "X-RateLimit-Reset",
                "Unix time (seconds) at which the window resets.",
            ),
        ] {
            response = response.header(name, header(description, integer()));
        }
    }
    if status == 429 || status == 503 {
        response = response.header(
            "Retry-After",
            header("Seconds to wait before retrying.", integer()),
        );
    }
    if access == Access::KeyIdempotent && replayable(status) {
        response = response.header(REPLAYED, replayed_header());
    }
    response
}

/// A plain answer of `media`, with the headers of its access and status.
pub fn plain_response(
    description: &str,
    access: Access,
    status: u16,
    media: &str,
    schema: S,
) -> Response {
    let response = ResponseBuilder::new()
        .description(description)
        .content(media, ContentBuilder::new().schema(Some(schema)).build());
    add_headers(response, access, status).build()
}

/// `{"success": true, "data": …}` with `data` of this schema.
pub fn success_response(description: &str, access: Access, status: u16, data: S) -> Response {
    let mut envelope = Object::default();
    envelope
        .field("success", exactly(true).into(), true)
        .field("data", data, true);
    plain_response(
        description,
        access,
        status,
        "application/json",
        envelope.build(false),
    )
}

fn error_response(access: Access, status: u16, codes: &[&str]) -> Response {
    let description = codes
        .iter()
        .map(|code| format!("`{code}`: {}", error_info(code).when))
        .collect::<Vec<_>>()
        .join("\n\n");
    // The codes this answer may carry, narrowing the envelope's list of every code.
    let code = ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .enum_values(Some(codes.iter().copied())),
        );
    let narrowed = ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .property("error", code);
    let schema = AllOfBuilder::new()
        .item(schema_ref("Error"))
        .item(narrowed)
        .into();
    plain_response(&description, access, status, "application/json", schema)
}

/// The error answers of an operation: the ones every call of its kind may get, plus `extra`,
/// as references to `components/responses`, where each distinct answer is written once.
pub fn error_responses(
    shared: &mut BTreeMap<String, RefOr<Response>>,
    access: Access,
    extra: &[&str],
) -> Vec<(String, RefOr<Response>)> {
    let common: &[&str] = match access {
        Access::Public => &["REQUEST_TIMEOUT", "INTERNAL_ERROR", "SERVICE_UNAVAILABLE"],
        Access::Key | Access::KeyIdempotent => &[
            "UNAUTHORIZED",
            "FORBIDDEN",
            "REQUEST_TIMEOUT",
            "RATE_LIMITED",
            "INTERNAL_ERROR",
            "SERVICE_UNAVAILABLE",
        ],
    };
    let idempotency: &[&str] = match access {
        Access::KeyIdempotent => &IDEMPOTENCY_CODES,
        Access::Public | Access::Key => &[],
    };
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for &code in common.iter().chain(extra).chain(idempotency) {
        by_status
            .entry(error_info(code).status)
            .or_default()
            .push(code);
    }
    let mut responses = Vec::new();
    for (status, codes) in by_status {
        // Named by what differs between answers: their headers, then their codes.
        let prefix = match access {
            Access::Public => "Public",
            Access::KeyIdempotent if replayable(status) => "Write",
            Access::Key | Access::KeyIdempotent => "Api",
        };
        let codes_name: Vec<String> = codes
            .iter()
            .map(|code| {
                code.split('_')
                    .map(|word| word[..1].to_owned() + &word[1..].to_lowercase())
                    .collect()
            })
            .collect();
        let name = format!("{prefix}{}", codes_name.join("Or"));
        shared
            .entry(name.clone())
            .or_insert_with(|| RefOr::T(error_response(access, status, &codes)));
        responses.push((
            status.to_string(),
            RefOr::Ref(Ref::from_response_name(name)),
        ));
    }
    responses
}
