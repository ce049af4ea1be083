//! Read-back queries. SQLite builds each record's API JSON itself (`json_object`), so a page
//! leaves the database ready to send.

use crate::domain::schema::{Entity, Kind};
use crate::store::{reference_label, visible};

/// How a reference column appears in a record: its id and the parent's human key.
fn reference_fields(column: &str, parent: Entity, alias: &str) -> String {
    let (label, key) = reference_label(parent);
    format!(
        "'{column}', {alias}.{column}, '{label}', (SELECT p.{key} FROM {table} AS p WHERE p.id = {alias}.{column})",
        table = parent.plural()
    )
}

fn column_field(name: &str, kind: Kind, alias: &str) -> String {
    match kind {
        Kind::Reference(parent) => reference_fields(name, parent, alias),
        Kind::Bool => format!(
            "'{name}', json(CASE WHEN {alias}.{name} IS NULL THEN 'null' WHEN {alias}.{name} THEN 'true' ELSE 'false' END)"
        ),
        Kind::Json => format!("'{name}', json({alias}.\"{name}\")"),
        Kind::Text | Kind::Int | Kind::Real | Kind::Date => format!("'{name}', {alias}.\"{name}\""),
    }
}

/// `json_object(…)` of one row of `entity` aliased `alias`, with `extra` fields appended.
pub(super) fn record_json(entity: Entity, alias: &str, extra: &str) -> String {
    let mut fields = vec![
        format!("'id', {alias}.id"),
        format!("'external_id', {alias}.external_id"),
        format!("'external_source', {alias}.external_source"),
    ];
    fields.extend(
        entity
            .columns()
            .iter()
            .map(|c| column_field(c.name, c.kind, alias)),
    );
    fields.push(format!("'synced_at', {alias}.synced_at"));
    fields.push(format!("'created_at', {alias}.created_at"));
    fields.push(format!("'updated_at', {alias}.updated_at"));
    fields.push(format!("'deleted_at', {alias}.deleted_at"));
    if !extra.is_empty() {
        fields.push(extra.to_owned());
    }
    format!("json_object({})", fields.join(", "))
}

/// The `operations` field of the part aliased `part`, by sequence (unsequenced last).
fn operations_of(part: &str, include_deleted: bool) -> String {
    format!(
        "'operations', (SELECT json(json_group_array(json({op}) ORDER BY o.sequence IS NULL, o.sequence, o.id)) \
         FROM operations AS o WHERE o.part_id = {part}.id{live})",
        op = record_json(Entity::Operations, "o", ""),
        live = visible("o", include_deleted),
    )
}

/// A job with its parts (oldest first) and each part's operations.
fn job_tree_json(include_deleted: bool) -> String {
    let parts = format!(
        "'parts', (SELECT json(json_group_array(json({part}) ORDER BY pt.id)) \
         FROM parts AS pt WHERE pt.job_id = t.id{live})",
        part = record_json(Entity::Parts, "pt", &operations_of("pt", include_deleted)),
        live = visible("pt", include_deleted),
    );
    record_json(Entity::Jobs, "t", &parts)
}

pub(super) fn get_sql(entity: Entity, by_external: bool, include_deleted: bool) -> String {
    let record = match entity {
        Entity::Jobs => job_tree_json(include_deleted),
        Entity::Parts => record_json(Entity::Parts, "t", &operations_of("t", include_deleted)),
        _ => record_json(entity, "t", ""),
    };
    let key = if by_external {
        "t.external_source = ?3 AND t.external_id = ?4"
    } else {
        "t.id = ?3"
    };
    format!(
        "SELECT {record} FROM {table} AS t WHERE t.tenant_id = ?1 AND t.mode = ?2 AND {key}{live}",
        table = entity.plural(),
        live = visible("t", include_deleted),
    )
}
