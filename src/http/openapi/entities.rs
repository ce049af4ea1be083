//! The operations of each entity's routes. The handlers are generic over the payload type
//! (`entity_routes::<P>` in `http/mod.rs` mounts them once per entity), which
//! `#[utoipa::path]` cannot describe, so the operations are built here, once per entity, with
//! utoipa's builders.

use std::collections::BTreeMap;

use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, Parameter};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::Response;
use utoipa::openapi::{Paths, RefOr};

use super::errors::{error_responses, make_idempotent, success_response, Access};
use super::examples::{bulk_example, examples, request_body};
use super::parameters::{
    children, dry_run, external_key, include_deleted, list_parameters, record_id,
};
use super::records::{input_name, record_name, title, titles, Placement};
use super::schemas::{array_of, schema_ref, Object};
use crate::domain::batch::MAX_BULK_RECORDS;
use crate::domain::floor::floor_acts_on;
use crate::domain::schema::Entity;

/// The paths of a document under construction, and the error answers they share.
#[derive(Default)]
pub struct Routes {
    pub paths: Paths,
    pub errors: BTreeMap<String, RefOr<Response>>,
}

/// What an operation says besides its answers.
pub struct Op<'a> {
    pub id: String,
    pub tag: &'a str,
    pub summary: String,
    pub description: &'a str,
    pub parameters: Vec<Parameter>,
    pub body: Option<RequestBody>,
}

impl Routes {
    /// Adds `op` with its success answers and the error answers of its access and `codes`.
    pub fn add(
        &mut self,
        path: &str,
        method: HttpMethod,
        op: Op,
        access: Access,
        successes: Vec<(u16, Response)>,
        codes: &[&str],
    ) {
        let mut operation = OperationBuilder::new()
            .operation_id(Some(op.id))
            .tag(op.tag)
            .summary(Some(op.summary))
            .request_body(op.body);
        if !op.description.is_empty() {
            operation = operation.description(Some(op.description));
        }
        for parameter in op.parameters {
            operation = operation.parameter(parameter);
        }
        for (status, response) in successes {
            operation = operation.response(status.to_string(), response);
        }
        let access = access.of(&method);
        for (status, response) in error_responses(&mut self.errors, access, codes) {
            operation = operation.response(status, response);
        }
        let mut operation: Operation = operation.build();
        if access == Access::KeyIdempotent {
            make_idempotent(&mut operation);
        }
        self.paths.add_path_operation(path, vec![method], operation);
    }
}

/// Codes a single-record sync may answer besides validation and a reused key: only entities
/// whose payloads name other records can miss one, and only a job's replace can conflict with
/// the floor.
fn reference_codes(entity: Entity) -> &'static [&'static str] {
    match entity {
        Entity::Jobs => &["CONFLICT", "REFERENCE_NOT_FOUND", "AMBIGUOUS_REFERENCE"],
        Entity::Parts | Entity::Operations => &["REFERENCE_NOT_FOUND", "AMBIGUOUS_REFERENCE"],
        Entity::Cells | Entity::Resources => &[],
    }
}

fn sync_codes(extra: &[&'static str]) -> Vec<&'static str> {
    let mut codes = vec![
        "VALIDATION_ERROR",
        "PAYLOAD_TOO_LARGE",
        "UNSUPPORTED_MEDIA_TYPE",
    ];
    codes.extend_from_slice(extra);
    codes
}

fn sync_paths(entity: Entity, routes: &mut Routes) {
    let base = format!("/api-{}", entity.plural());
    let tag = titles(entity);
    let singular = entity.singular();
    let mut parameters = vec![dry_run()];
    if entity == Entity::Jobs {
        parameters.push(children());
    }
    let access = Access::Key;
    let result = || schema_ref("SyncResult");
    routes.add(
        &format!("{base}/sync"),
        HttpMethod::Put,
        Op {
            id: format!("sync{}", title(entity)),
            tag: &tag,
            summary: format!("Upsert one {singular}"),
            description: "Created the first time its (external_source, external_id) is sent, \
                          updated after. Fields left out keep their stored value; null clears \
                          one.",
            parameters: parameters.clone(),
            body: Some(request_body(
                &input_name(entity, Placement::TopLevel),
                examples(entity),
            )),
        },
        access,
        vec![
            (
                201,
                success_response(
                    &format!("The {singular} was created (or a deleted one restored)."),
                    access,
                    201,
                    result(),
                ),
            ),
            (
                200,
                success_response(
                    &format!("The {singular} was updated, or was already as sent (unchanged)."),
                    access,
                    200,
                    result(),
                ),
            ),
        ],
        &sync_codes(reference_codes(entity)),
    );
    routes.add(
        &format!("{base}/bulk-sync"),
        HttpMethod::Post,
        Op {
            id: format!("bulkSync{}", titles(entity)),
            tag: &tag,
            summary: format!("Upsert up to {MAX_BULK_RECORDS} {}", entity.plural()),
            description: "One bad record never blocks the others. The same record twice in one \
                          call: the repeat is an error result. More than the limit is a 400 \
                          that writes nothing.",
            parameters,
            body: Some(request_body(
                &format!("{}BulkInput", title(entity)),
                vec![("bulk", "Several records", bulk_example(entity))],
            )),
        },
        access,
        vec![(
            200,
            success_response(
                "A result per record, in input order; invalid records are error results.",
                access,
                200,
                schema_ref("BulkResult"),
            ),
        )],
        &sync_codes(&[]),
    );
}

fn get_description(entity: Entity) -> &'static str {
    match entity {
        Entity::Jobs => "With its parts (oldest first) and their operations (by sequence).",
        Entity::Parts => "With its operations (by sequence).",
        _ => "",
    }
}

fn delete_description(entity: Entity) -> &'static str {
    match entity {
        Entity::Jobs => {
            "Soft delete: hidden from reads, with its parts and operations; refused (409) once \
             the shop floor has worked on it. Syncing it again restores it with the same id."
        }
        Entity::Parts => {
            "Soft delete: hidden from reads, with its operations; refused (409) once the shop \
             floor has worked on it. Syncing it again restores it with the same id."
        }
        Entity::Cells => {
            "Soft delete, refused (409) while live operations run in the cell. Syncing it again \
             restores it with the same id."
        }
        Entity::Operations => {
            "Soft delete: hidden from reads; refused (409) once the shop floor has worked on \
             it. Syncing it again restores it with the same id."
        }
        _ => "Soft delete: hidden from reads. Syncing it again restores it with the same id.",
    }
}

fn read_paths(entity: Entity, routes: &mut Routes) {
    let base = format!("/api-{}", entity.plural());
    let (one, tag, singular) = (title(entity), titles(entity), entity.singular());
    let access = Access::Key;
    let mut list = Object::default();
    list.field(
        entity.plural(),
        array_of(schema_ref(&record_name(entity, false))),
        true,
    )
    .field("pagination", schema_ref("Pagination"), true);
    let op = |id: String, summary: String, description, parameters| Op {
        id,
        tag: &tag,
        summary,
        description,
        parameters,
        body: None,
    };
    routes.add(
        &base,
        HttpMethod::Get,
        op(
            format!("list{tag}"),
            format!("List {}", entity.plural()),
            "",
            list_parameters(entity),
        ),
        access,
        vec![(
            200,
            success_response("A page of records.", access, 200, list.build(false)),
        )],
        &["VALIDATION_ERROR"],
    );

    let found = || {
        let record = schema_ref(&record_name(entity, true));
        vec![(
            200,
            success_response(&format!("The {singular}."), access, 200, record),
        )]
    };
    let deleted = || {
        let message = format!("The {singular} is deleted.");
        vec![(
            200,
            success_response(&message, access, 200, schema_ref("Deleted")),
        )]
    };
    // A malformed id or a query parameter is refused; a cell in use, or a record the floor
    // worked on, is a conflict.
    let delete_codes: &[&str] = if entity == Entity::Cells || floor_acts_on(entity) {
        &["VALIDATION_ERROR", "NOT_FOUND", "CONFLICT"]
    } else {
        &["VALIDATION_ERROR", "NOT_FOUND"]
    };
    let get_codes = &["VALIDATION_ERROR", "NOT_FOUND"];

    let by_id = format!("{base}/{{id}}");
    routes.add(
        &by_id,
        HttpMethod::Get,
        op(
            format!("get{one}"),
            format!("One {singular} by id"),
            get_description(entity),
            vec![record_id(), include_deleted()],
        ),
        access,
        found(),
        get_codes,
    );
    routes.add(
        &by_id,
        HttpMethod::Delete,
        op(
            format!("delete{one}"),
            format!("Delete a {singular} by id"),
            delete_description(entity),
            vec![record_id()],
        ),
        access,
        deleted(),
        delete_codes,
    );
    let by_external = format!("{base}/by-external/{{external_source}}/{{external_id}}");
    let mut get_parameters = external_key().to_vec();
    get_parameters.push(include_deleted());
    routes.add(
        &by_external,
        HttpMethod::Get,
        op(
            format!("get{one}ByExternalId"),
            format!("One {singular} by the ERP's key"),
            get_description(entity),
            get_parameters,
        ),
        access,
        found(),
        get_codes,
    );
    routes.add(
        &by_external,
        HttpMethod::Delete,
        op(
            format!("delete{one}ByExternalId"),
            format!("Delete a {singular} by the ERP's key"),
            delete_description(entity),
            external_key().to_vec(),
        ),
        access,
        deleted(),
        delete_codes,
    );
}

/// Every entity's operations.
pub fn entity_routes(routes: &mut Routes) {
    for entity in Entity::ALL {
        sync_paths(entity, routes);
        read_paths(entity, routes);
    }
}
