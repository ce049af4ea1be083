//! One key, one row: a record whose key an earlier row of the same file already holds — at
//! the top or nested in it — is refused here, as the server refuses a repeat within one call.
//! The file contradicts itself, and were both rows sent in different chunks, which one the
//! server kept would depend on which chunk committed last
//! (`push_order::a_key_repeated_far_apart_in_a_file_is_rejected_at_its_line`,
//! `push_order::a_nested_key_repeated_in_a_file_is_rejected_at_its_line`).

use std::collections::HashMap;

use serde_json::Value;

use super::input::{Child, InputFile, RecordKey, Rejection, Row};
use crate::domain::Entity;

/// The records nested in `json`, a record of `entity`: a job's parts and their operations, a
/// part's operations. A child without its own `external_source` takes its parent's, as the
/// server reads it.
pub fn children_of(entity: Entity, json: &str) -> Vec<Child> {
    let nested = match entity {
        Entity::Jobs => "\"parts\"",
        Entity::Parts => "\"operations\"",
        _ => return Vec::new(),
    };
    // Most exports nest nothing: no need to read those rows twice.
    if !json.contains(nested) {
        return Vec::new();
    }
    let Ok(Value::Object(record)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    let source = record.get("external_source").and_then(Value::as_str);
    let mut children = Vec::new();
    collect(entity, &record, source, "", &mut children);
    children
}

fn collect(
    entity: Entity,
    record: &serde_json::Map<String, Value>,
    source: Option<&str>,
    prefix: &str,
    into: &mut Vec<Child>,
) {
    let (field, child) = match entity {
        Entity::Jobs => ("parts", Entity::Parts),
        Entity::Parts => ("operations", Entity::Operations),
        _ => return,
    };
    let Some(Value::Array(items)) = record.get(field) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let Value::Object(item) = item else { continue };
        let path = format!("{prefix}{field}[{i}].");
        let own = item
            .get("external_source")
            .and_then(Value::as_str)
            .or(source);
        if let (Some(source), Some(Value::String(id))) = (own, item.get("external_id")) {
            into.push(Child {
                entity: child,
                key: (source.to_owned(), id.clone()),
                path: format!("{path}external_id"),
            });
        }
        collect(child, item, own, &path, into);
    }
}

/// Every key a row writes: its own, then its children's, each with the field it is in.
fn identities(entity: Entity, row: &Row) -> impl Iterator<Item = (Entity, &RecordKey, &str)> {
    let own = row.key.as_ref().map(|key| (entity, key, "external_id"));
    let children = row
        .children
        .iter()
        .map(|c| (c.entity, &c.key, c.path.as_str()));
    own.into_iter().chain(children)
}

pub fn reject_repeats(file: &mut InputFile) {
    // Rows refused as unreadable count as first rows too: the file names the key there first,
    // and a row after it is a repeat all the same
    // (`push_order::a_repeat_after_an_unreadable_first_row_is_a_repeat`).
    let mut unreadable: HashMap<&RecordKey, u64> = HashMap::new();
    for rejection in &file.rejected {
        if let Some(key) = &rejection.key {
            unreadable.entry(key).or_insert(rejection.line);
        }
    }
    let mut sent: HashMap<(Entity, RecordKey), u64> = HashMap::new();
    let mut repeats = Vec::new();
    for row in std::mem::take(&mut file.rows) {
        let earlier = identities(file.entity, &row).find_map(|(entity, key, path)| {
            let line = sent.get(&(entity, key.clone())).copied().or_else(|| {
                let line = *unreadable.get(key).filter(|_| entity == file.entity)?;
                (line < row.line).then_some(line)
            })?;
            Some((entity, key, path, line))
        });
        let Some((entity, key, path, line)) = earlier else {
            for (entity, key, _) in identities(file.entity, &row) {
                sent.entry((entity, key.clone())).or_insert(row.line);
            }
            file.rows.push(row);
            continue;
        };
        repeats.push(Rejection {
            file: file.name.clone(),
            line: row.line,
            external_id: row.external_id.clone(),
            key: None,
            code: "VALIDATION_ERROR".to_owned(),
            field: Some(path.to_owned()),
            error: format!(
                "{path}: {} external_id {:?} (source {:?}) appears more than once in this file; \
                 first at line {line}; a key's later rows are not sent",
                entity.singular(),
                key.1,
                key.0
            ),
        });
    }
    file.rejected.extend(repeats);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_children_take_their_parents_source() {
        let job = r#"{"external_id": "J", "external_source": "SAP", "parts": [
            {"external_id": "P1", "operations": [{"external_id": "O1"},
              {"external_id": "O2", "external_source": "MES"}]},
            {"external_id": "P2", "external_source": "NS"}, "junk"]}"#;
        let children: Vec<_> = children_of(Entity::Jobs, job)
            .into_iter()
            .map(|c| (c.entity, c.key.0, c.key.1, c.path))
            .collect();
        let child = |e, s: &str, i: &str, p: &str| (e, s.to_owned(), i.to_owned(), p.to_owned());
        assert_eq!(
            children,
            [
                child(Entity::Parts, "SAP", "P1", "parts[0].external_id"),
                child(
                    Entity::Operations,
                    "SAP",
                    "O1",
                    "parts[0].operations[0].external_id"
                ),
                child(
                    Entity::Operations,
                    "MES",
                    "O2",
                    "parts[0].operations[1].external_id"
                ),
                child(Entity::Parts, "NS", "P2", "parts[1].external_id"),
            ]
        );
        assert!(children_of(Entity::Cells, job).is_empty());
    }
}
