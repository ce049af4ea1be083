//! `GET /openapi.json` and `GET /docs`: the API as an OpenAPI 3.1 document, generated with
//! utoipa, and a page that renders it.
//!
//! The handlers that serve one route each carry `#[utoipa::path]` (`health` in `http/mod.rs`,
//! the sync history in `http/history.rs`, the produced quantities in `http/quantities.rs`, whose
//! schemas are in `quantities.rs`, the webhook routes in `http/webhooks.rs`, whose schemas and
//! answers are in `webhooks.rs`, the two below) and `ApiDoc` collects them; the
//! entity routes, whose handlers are generic over the payload, are built per entity in
//! `entities.rs`. Request and record schemas come from each field's declaration
//! (`records.rs`); answers and error codes from `answers.rs` and `errors.rs`. The unit tests
//! in `tests.rs` hold the document to the real decoder and to the error mapping.

mod answers;
mod entities;
mod errors;
mod examples;
mod floor;
mod page;
mod parameters;
mod quantities;
mod records;
mod schemas;
#[cfg(test)]
mod tests;
mod webhooks;

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, Operation, Parameter};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, LicenseBuilder, OpenApi as Document};
use utoipa::OpenApi;

use self::entities::Routes;
use self::errors::{error_responses, make_idempotent, plain_response, success_response, Access};
use self::records::titles;
use self::schemas::{array_of, exactly, one_of, schema_ref, Object};
use crate::domain::schema::Entity;

const HISTORY_TAG: &str = "Sync history";
const SERVICE_TAG: &str = "Service";

const DESCRIPTION: &str = "\
Upsert server for ERP → MES synchronisation. The ERP sends jobs (sales orders) with nested \
parts (work orders) and operations (routing steps), plus cells (work centers) and resources \
(equipment), each keyed by its own `external_id` within an `external_source`.

- Every `/api-*` call needs `Authorization: Bearer ery_live_…` (or `ery_test_…`); live and test \
keys see separate data. A key holds scopes (`sync`, `floor`, `read`, `webhooks`); a call outside \
them answers 403 `FORBIDDEN`, naming the scope it needs.
- Bodies must be sent with `Content-Type: application/json`.
- Absent keeps, null clears: a field left out keeps its stored value; `null` clears it (fields \
with a default go back to it). Required fields cannot be `null`. Unknown fields are refused.
- Texts never contain NUL characters.
- Every `/api-*` route is also served under `/functions/v1` (`/functions/v1/api-jobs/sync`), the \
prefix of Eryxon's hosted API: connectors written for it only change the host.
- Sync order for an initial load: cells, resources, jobs, parts, operations.
- Every error has the envelope `{\"success\": false, \"error\": {\"code\", \"message\", \
\"details\"?}}`. An unknown path answers 404 `NOT_FOUND`; a known path with the wrong method \
405 `METHOD_NOT_ALLOWED`.";

/// The operations declared with `#[utoipa::path]` on their handlers. `build` adds what the
/// attributes cannot say: the entity routes, the answers and the shared components.
#[derive(OpenApi)]
#[openapi(paths(
    crate::http::history::list,
    crate::http::history::get_one,
    crate::http::health,
    crate::http::quantities::report,
    crate::http::quantities::list,
    crate::http::webhooks::create,
    crate::http::webhooks::list,
    crate::http::webhooks::get_one,
    crate::http::webhooks::patch_one,
    crate::http::webhooks::patch_by_query,
    crate::http::webhooks::delete_one,
    crate::http::webhooks::delete_by_query,
    crate::http::webhooks::rotate,
    crate::http::webhook_sends::test,
    crate::http::webhooks::deliveries_of,
    crate::http::webhooks::logs,
    crate::http::webhook_sends::retry,
    crate::http::webhook_sends::replay,
    openapi_json,
    docs,
))]
struct ApiDoc;

/// What an operation declared on its handler gets besides its attribute: who may call it,
/// what it answers when it succeeds, the error codes it adds to those of its access (`None`:
/// no error answers), and its query parameters.
struct Completion {
    access: Access,
    successes: Vec<(u16, utoipa::openapi::Response)>,
    codes: Option<&'static [&'static str]>,
    parameters: Vec<Parameter>,
    body: Option<utoipa::openapi::request_body::RequestBody>,
}

fn completion(operation_id: &str) -> Completion {
    let (key, public) = (Access::Key, Access::Public);
    let json = "application/json";
    let of = |access, successes, codes| Completion {
        access,
        successes,
        codes,
        parameters: Vec::new(),
        body: None,
    };
    match operation_id {
        "listImports" => {
            let mut page = Object::default();
            page.field("imports", array_of(schema_ref("ImportEntry")), true)
                .field("pagination", schema_ref("Pagination"), true);
            let ok = success_response("A page of history entries.", key, 200, page.build(false));
            let entity = one_of(Entity::ALL.iter().map(|e| e.plural())).into();
            Completion {
                parameters: vec![
                    parameters::query("entity", entity, "Only calls for this entity."),
                    parameters::query(
                        "outcome",
                        one_of(["clean", "rejected", "failed"]).into(),
                        "Only calls that ended so, each call under one: `clean` (answered \
                         below 400, nothing rejected), `rejected` (answered below 400, a \
                         record rejected), `failed` (answered 400 or above).",
                    ),
                    parameters::query(
                        "request_id",
                        ObjectBuilder::new().schema_type(Type::String).into(),
                        "Only the call answered with this `X-Request-Id`, as an ERP reports \
                         a failure.",
                    ),
                    parameters::query(
                        "before",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                            .into(),
                        "Only the entries older than this one (an entry's `id`): to page \
                         through the history without the shift that new calls cause to \
                         `offset`, pass the last entry's `id` of each page.",
                    ),
                    parameters::limit(),
                    parameters::offset(),
                ],
                ..of(key, vec![(200, ok)], Some(&["VALIDATION_ERROR"]))
            }
        }
        "getImport" => {
            let entry = schema_ref("ImportEntryWithErrors");
            let ok = success_response("The entry.", key, 200, entry);
            of(key, vec![(200, ok)], Some(&["NOT_FOUND"]))
        }
        "getHealth" => {
            let ok = success_response("The store answers.", public, 200, exactly("ok").into());
            of(public, vec![(200, ok)], Some(&[]))
        }
        "getOpenApiDocument" => {
            let object = ObjectBuilder::new().schema_type(Type::Object).into();
            let ok = plain_response("The document.", public, 200, json, object);
            of(public, vec![(200, ok)], None)
        }
        "getDocs" => {
            let page = ObjectBuilder::new().schema_type(Type::String).into();
            let ok = plain_response("The page.", public, 200, "text/html", page);
            of(public, vec![(200, ok)], None)
        }
        "reportQuantity" => {
            let (body, answers) = quantities::report_answers();
            let codes = &[
                "VALIDATION_ERROR",
                "NOT_FOUND",
                "PAYLOAD_TOO_LARGE",
                "UNSUPPORTED_MEDIA_TYPE",
                "IDEMPOTENCY_MISMATCH",
            ];
            Completion {
                body: Some(body),
                ..of(key, answers, Some(codes))
            }
        }
        "listQuantityReports" => {
            let (parameters, answers) = quantities::list_answers();
            Completion {
                parameters,
                ..of(key, answers, Some(&["VALIDATION_ERROR", "NOT_FOUND"]))
            }
        }
        other => webhooks::completion(other)
            .unwrap_or_else(|| panic!("no answers for the operation {other}")),
    }
}

fn complete(operation: &mut Operation, method: &HttpMethod, routes: &mut Routes) {
    let id = operation
        .operation_id
        .clone()
        .expect("every operation has an id");
    let completion = completion(&id);
    let access = completion.access.of(method);
    for (status, response) in completion.successes {
        operation
            .responses
            .responses
            .insert(status.to_string(), response.into());
    }
    if let Some(codes) = completion.codes {
        for (status, response) in error_responses(&mut routes.errors, access, codes) {
            operation.responses.responses.insert(status, response);
        }
    }
    if !completion.parameters.is_empty() {
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .extend(completion.parameters);
    }
    if completion.body.is_some() {
        operation.request_body = completion.body;
    }
    if access == Access::Public {
        operation.security = Some(Vec::new());
    }
    if access == Access::KeyIdempotent {
        make_idempotent(operation);
    }
}

fn build() -> Document {
    let mut doc = ApiDoc::openapi();
    let mut routes = Routes::default();
    for item in doc.paths.paths.values_mut() {
        for (method, operation) in [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Patch, &mut item.patch),
            (HttpMethod::Delete, &mut item.delete),
        ] {
            if let Some(operation) = operation {
                complete(operation, &method, &mut routes);
            }
        }
    }
    entities::entity_routes(&mut routes);
    floor::floor_routes(&mut routes);
    doc.paths.merge(routes.paths);

    doc.info.title = "Eryxon Sync API".to_owned();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.description = Some(DESCRIPTION.to_owned());
    doc.info.contact = None;
    doc.info.license = Some(
        LicenseBuilder::new()
            .name("MIT")
            .identifier(Some("MIT"))
            .build(),
    );
    let mut tags: Vec<String> = Entity::ALL.iter().map(|e| titles(*e)).collect();
    tags.extend([
        crate::http::quantities::TAG.to_owned(),
        floor::EVENTS_TAG.to_owned(),
        crate::http::webhooks::TAG.to_owned(),
        HISTORY_TAG.to_owned(),
        SERVICE_TAG.to_owned(),
    ]);
    doc.tags = Some(
        tags.into_iter()
            .map(|name| TagBuilder::new().name(name).build())
            .collect(),
    );
    doc.security = Some(vec![SecurityRequirement::new(
        "bearerAuth",
        Vec::<String>::new(),
    )]);
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("ery_live_… or ery_test_… followed by 40 base62 characters")
        .description(Some(
            "An API key from `eryxon api-key create`. Its scopes (`--scopes`, all four when \
             left out) say what it may call: `sync` for `PUT …/sync`, `POST …/bulk-sync` and \
             `DELETE`; `floor` for the lifecycle actions and reported quantities; `read` for \
             every `GET`; `webhooks` for `/api-webhooks*`. A call outside them answers 403 \
             `FORBIDDEN`.",
        ))
        .build();
    let mut components = ComponentsBuilder::new()
        .security_scheme("bearerAuth", SecurityScheme::Http(bearer))
        .build();
    components.schemas = answers::components_schemas();
    quantities::schemas(&mut components.schemas);
    floor::schemas(&mut components.schemas);
    webhooks::schemas(&mut components.schemas);
    components.responses = routes.errors;
    doc.components = Some(components);
    doc
}

/// The document, built on first use.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::to_value(build()).expect("the document serializes"))
}

fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| document().to_string())
}

/// This OpenAPI 3.1 document
///
/// No key needed.
#[utoipa::path(get, path = "/openapi.json", operation_id = "getOpenApiDocument", tag = SERVICE_TAG)]
pub async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_text(),
    )
        .into_response()
}

/// Human-readable API reference
///
/// An HTML page that renders this document, with a plain list of endpoints when its script cannot load. No key needed.
#[utoipa::path(get, path = "/docs", operation_id = "getDocs", tag = SERVICE_TAG)]
pub async fn docs() -> Html<&'static str> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(page::page).as_str())
}

/// The renderer `/docs` loads, from the binary (not in the document: an asset, not the API).
pub async fn docs_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        page::REDOC_JS,
    )
        .into_response()
}

/// Where `/docs` loads its renderer from.
pub const DOCS_SCRIPT_PATH: &str = page::REDOC_PATH;
