//! How each entity's payload becomes its validated record: keys, references to parents (by
//! key, by id, or by nesting) and the column values the payload's declaration hands over.

use uuid::Uuid;

use super::{
    CellRef, Indexed, JobRecord, KeyPlace, Keys, OperationRecord, ParentRef, Parented, PartRecord,
    Payload, Record, RecordKey, SyncBatch,
};
use crate::domain::decode::FieldError;
use crate::domain::patch::Patch;
use crate::domain::payload::{
    CellPayload, JobPayload, OperationPayload, PartPayload, ResourcePayload,
};
use crate::domain::schema::{Entity, Scalar};
use crate::domain::value::{Children, Name, Source};

/// The enclosing record of a nested part or operation.
struct Parent<'a> {
    entity: Entity,
    key: &'a RecordKey,
}

fn key(external_id: Name, source: Source) -> RecordKey {
    RecordKey {
        source: source.into_string(),
        external_id: external_id.into_string(),
    }
}

/// A nested record may repeat what it inherits, but only if it agrees with its parent.
fn inherited(
    field: &str,
    given: Option<&str>,
    inherited: &str,
    parent: &Parent,
) -> Result<(), FieldError> {
    match given {
        Some(value) if value != inherited => Err(FieldError::new(
            field,
            format!(
                "is {:?} but the enclosing {} has {:?}; leave it out on nested records",
                value,
                parent.entity.singular(),
                inherited
            ),
        )),
        _ => Ok(()),
    }
}

/// A nested record's parent is the enclosing one; naming it by id as well is refused.
fn not_nested(field: &str, given: bool, parent: &Parent) -> Result<(), FieldError> {
    if given {
        Err(FieldError::new(
            field,
            format!(
                "is not allowed on a record nested in a {}: it belongs to the enclosing one",
                parent.entity.singular()
            ),
        ))
    } else {
        Ok(())
    }
}

enum Either<A, B> {
    First(A),
    Second(B),
}

/// Exactly one of two alternative fields, e.g. `cell_name` or `cell_id`.
fn one_of<A, B>(
    first: &str,
    a: Option<A>,
    second: &str,
    b: Option<B>,
) -> Result<Either<A, B>, FieldError> {
    match (a, b) {
        (Some(a), None) => Ok(Either::First(a)),
        (None, Some(b)) => Ok(Either::Second(b)),
        (Some(_), Some(_)) => Err(FieldError::new(
            second,
            format!("send {first} or {second}, not both"),
        )),
        (None, None) => Err(FieldError::new(
            first,
            format!("missing field `{first}` (or `{second}`)"),
        )),
    }
}

fn parent_ref(
    external: &str,
    external_id: Option<Name>,
    internal: &str,
    id: Option<Uuid>,
) -> Result<ParentRef, FieldError> {
    Ok(match one_of(external, external_id, internal, id)? {
        Either::First(external_id) => ParentRef::ExternalId(external_id.into_string()),
        Either::Second(id) => ParentRef::Id(id),
    })
}

fn require<T>(field: &str, value: Option<T>) -> Result<T, FieldError> {
    value.ok_or_else(|| FieldError::new(field, format!("missing field `{field}`")))
}

impl JobPayload {
    fn into_record(self) -> Result<JobRecord, FieldError> {
        let (values, extras) = self.split();
        let key = key(extras.external_id, extras.external_source);
        let parent = Parent {
            entity: Entity::Jobs,
            key: &key,
        };
        let parts_listed = extras.parts.is_some();
        let parts = extras
            .parts
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                part.into_nested(&parent)
                    .map_err(|e| e.within(&format!("parts[{i}]")))
            })
            .collect::<Result<_, _>>()?;
        Ok(JobRecord {
            record: Record { key, values },
            parts,
            parts_listed,
            children: extras.children,
        })
    }
}

impl PartPayload {
    fn into_nested(self, job: &Parent) -> Result<PartRecord, FieldError> {
        let (values, extras) = self.split();
        inherited(
            "external_source",
            extras.external_source.as_ref().map(Source::as_str),
            &job.key.source,
            job,
        )?;
        inherited(
            "job_external_id",
            extras.job_external_id.as_ref().map(Name::as_str),
            &job.key.external_id,
            job,
        )?;
        not_nested("job_id", extras.job_id.is_some(), job)?;
        part_record(
            values,
            extras.external_id,
            extras.operations,
            job.key.source.clone(),
        )
    }
}

fn part_record(
    values: Vec<Patch<Scalar>>,
    external_id: Name,
    operations: Option<Vec<OperationPayload>>,
    source: String,
) -> Result<PartRecord, FieldError> {
    let key = RecordKey {
        source,
        external_id: external_id.into_string(),
    };
    let parent = Parent {
        entity: Entity::Parts,
        key: &key,
    };
    let operations_listed = operations.is_some();
    let operations = operations
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, operation)| {
            operation
                .into_nested(&parent)
                .map_err(|e| e.within(&format!("operations[{i}]")))
        })
        .collect::<Result<_, _>>()?;
    Ok(PartRecord {
        record: Record { key, values },
        operations,
        operations_listed,
    })
}

impl OperationPayload {
    fn into_nested(self, part: &Parent) -> Result<OperationRecord, FieldError> {
        let (values, extras) = self.split();
        inherited(
            "external_source",
            extras.external_source.as_ref().map(Source::as_str),
            &part.key.source,
            part,
        )?;
        inherited(
            "part_external_id",
            extras.part_external_id.as_ref().map(Name::as_str),
            &part.key.external_id,
            part,
        )?;
        not_nested("part_id", extras.part_id.is_some(), part)?;
        operation_record(
            values,
            extras.external_id,
            (extras.cell_name, extras.cell_id),
            part.key.source.clone(),
        )
    }
}

fn operation_record(
    values: Vec<Patch<Scalar>>,
    external_id: Name,
    (cell_name, cell_id): (Option<Name>, Option<Uuid>),
    source: String,
) -> Result<OperationRecord, FieldError> {
    let cell = match one_of("cell_name", cell_name, "cell_id", cell_id)? {
        Either::First(name) => CellRef::Name(name.into_string()),
        Either::Second(id) => CellRef::Id(id),
    };
    Ok(OperationRecord {
        record: Record {
            key: RecordKey {
                source,
                external_id: external_id.into_string(),
            },
            values,
        },
        cell,
    })
}

fn operation_keys<'a>(operations: &'a [OperationRecord], part: Option<usize>, keys: &mut Keys<'a>) {
    for (i, operation) in operations.iter().enumerate() {
        let place = KeyPlace {
            part,
            operation: Some(i),
        };
        keys.push((Entity::Operations, &operation.record.key, place));
    }
}

fn part_keys<'a>(part: &'a PartRecord, index: Option<usize>, keys: &mut Keys<'a>) {
    let place = KeyPlace {
        part: index,
        operation: None,
    };
    keys.push((Entity::Parts, &part.record.key, place));
    operation_keys(&part.operations, index, keys);
}

impl Payload for JobPayload {
    const ENTITY: Entity = Entity::Jobs;
    type Item = JobRecord;

    fn into_item(self) -> Result<JobRecord, FieldError> {
        self.into_record()
    }

    /// Under `replace`, a job must list its parts and each part its operations (`[]` for
    /// none): a list left out would delete every stored child, which is what an ERP that sent
    /// only the header by mistake would least expect (`sync::replace_needs_the_children_listed`).
    fn settle(job: &mut JobRecord, children: Option<Children>) -> Result<(), FieldError> {
        if let Some(children) = children {
            job.children.get_or_insert(children);
        }
        job.check_children_listed()
    }

    fn keys(job: &JobRecord) -> Keys<'_> {
        let mut keys = vec![(Entity::Jobs, &job.record.key, KeyPlace::TOP)];
        for (i, part) in job.parts.iter().enumerate() {
            part_keys(part, Some(i), &mut keys);
        }
        keys
    }

    fn batch(items: Vec<Indexed<JobRecord>>) -> SyncBatch {
        SyncBatch::Jobs(items)
    }
}

impl Payload for PartPayload {
    const ENTITY: Entity = Entity::Parts;
    type Item = Parented<PartRecord>;

    fn into_item(self) -> Result<Parented<PartRecord>, FieldError> {
        let (values, extras) = self.split();
        let source = require("external_source", extras.external_source)?;
        let parent = parent_ref(
            "job_external_id",
            extras.job_external_id,
            "job_id",
            extras.job_id,
        )?;
        Ok(Parented {
            parent,
            item: part_record(
                values,
                extras.external_id,
                extras.operations,
                source.into_string(),
            )?,
        })
    }

    fn keys(part: &Parented<PartRecord>) -> Keys<'_> {
        let mut keys = Vec::new();
        part_keys(&part.item, None, &mut keys);
        keys
    }

    fn batch(items: Vec<Indexed<Parented<PartRecord>>>) -> SyncBatch {
        SyncBatch::Parts(items)
    }
}

impl Payload for OperationPayload {
    const ENTITY: Entity = Entity::Operations;
    type Item = Parented<OperationRecord>;

    fn into_item(self) -> Result<Parented<OperationRecord>, FieldError> {
        let (values, extras) = self.split();
        let source = require("external_source", extras.external_source)?;
        let parent = parent_ref(
            "part_external_id",
            extras.part_external_id,
            "part_id",
            extras.part_id,
        )?;
        Ok(Parented {
            parent,
            item: operation_record(
                values,
                extras.external_id,
                (extras.cell_name, extras.cell_id),
                source.into_string(),
            )?,
        })
    }

    fn keys(operation: &Parented<OperationRecord>) -> Keys<'_> {
        vec![(
            Entity::Operations,
            &operation.item.record.key,
            KeyPlace::TOP,
        )]
    }

    fn batch(items: Vec<Indexed<Parented<OperationRecord>>>) -> SyncBatch {
        SyncBatch::Operations(items)
    }
}

/// Cells and resources: a record of their own fields, keyed at the top of the request.
macro_rules! top_level_payload {
    ($($payload:ident => $entity:ident),+) => {$(
        impl Payload for $payload {
            const ENTITY: Entity = Entity::$entity;
            type Item = Record;

            fn into_item(self) -> Result<Record, FieldError> {
                let (values, extras) = self.split();
                Ok(Record {
                    key: key(extras.external_id, extras.external_source),
                    values,
                })
            }

            fn keys(record: &Record) -> Keys<'_> {
                vec![(Entity::$entity, &record.key, KeyPlace::TOP)]
            }

            fn batch(items: Vec<Indexed<Record>>) -> SyncBatch {
                SyncBatch::$entity(items)
            }
        }
    )+};
}

top_level_payload!(CellPayload => Cells, ResourcePayload => Resources);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decode::decode;
    use crate::domain::schema::Kind;

    fn own_columns(entity: Entity) -> usize {
        entity
            .columns()
            .iter()
            .filter(|c| !matches!(c.kind, Kind::Reference(_)))
            .count()
    }

    fn item<P: Payload>(json: &str) -> Result<P::Item, FieldError> {
        decode::<P>(json.as_bytes())?.into_item()
    }

    #[test]
    fn every_record_lists_one_value_per_own_column() {
        let cell = item::<CellPayload>(r#"{"external_id":"C","external_source":"S","name":"n"}"#);
        assert_eq!(cell.unwrap().values.len(), own_columns(Entity::Cells));
        let resource =
            item::<ResourcePayload>(r#"{"external_id":"R","external_source":"S","name":"n"}"#);
        assert_eq!(
            resource.unwrap().values.len(),
            own_columns(Entity::Resources)
        );
        let job = item::<JobPayload>(
            r#"{"external_id":"J","external_source":"S","job_number":"1",
                "parts":[{"external_id":"P","part_number":"p",
                  "operations":[{"external_id":"O","operation_name":"o","cell_name":"c"}]}]}"#,
        )
        .unwrap();
        assert_eq!(job.record.values.len(), own_columns(Entity::Jobs));
        assert_eq!(job.parts[0].record.values.len(), own_columns(Entity::Parts));
        let operation = &job.parts[0].operations[0];
        assert_eq!(
            operation.record.values.len(),
            own_columns(Entity::Operations)
        );
        assert_eq!(operation.record.key.source, "S");
        assert_eq!(operation.cell, CellRef::Name("c".into()));
    }

    #[test]
    fn flat_parts_and_operations_need_their_parent_and_source() {
        let error =
            item::<PartPayload>(r#"{"external_id":"P","external_source":"S","part_number":"p"}"#)
                .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("job_external_id"));
        let error = item::<OperationPayload>(
            r#"{"external_id":"O","part_external_id":"P","operation_name":"o","cell_name":"c"}"#,
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("external_source"));
    }

    #[test]
    fn nested_records_may_repeat_but_not_contradict_their_parent() {
        let agreeing = item::<JobPayload>(
            r#"{"external_id":"J","external_source":"S","job_number":"1",
                "parts":[{"external_id":"P","part_number":"p","job_external_id":"J"}]}"#,
        );
        assert!(agreeing.is_ok());
        let error = item::<JobPayload>(
            r#"{"external_id":"J","external_source":"S","job_number":"1",
                "parts":[{"external_id":"P","part_number":"p",
                  "operations":[{"external_id":"O","operation_name":"o","cell_name":"c",
                                 "external_source":"OTHER"}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            error.field.as_deref(),
            Some("parts[0].operations[0].external_source")
        );
    }

    #[test]
    fn explicit_null_is_kept_apart_from_absent() {
        let job = item::<JobPayload>(
            r#"{"external_id":"J","external_source":"S","job_number":"1","customer":null}"#,
        )
        .unwrap();
        assert_eq!(job.record.values[1], Patch::Null);
        assert_eq!(job.record.values[2], Patch::Absent);
    }

    #[test]
    fn records_are_objects_not_arrays_of_field_values() {
        let error = item::<CellPayload>(r#"["C","S","n"]"#).unwrap_err();
        assert_eq!(error.field, None);
        assert_eq!(error.message, r#"must be a JSON object (got a list)"#);
        let error = item::<JobPayload>(
            r#"{"external_id":"J","external_source":"S","job_number":"1","parts":[["P",null,null,null,"p"]]}"#,
        )
        .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("parts[0]"), "{error:?}");
    }

    #[test]
    fn required_fields_cannot_be_null() {
        let error = item::<CellPayload>(r#"{"external_id":"C","external_source":"S","name":null}"#)
            .unwrap_err();
        assert_eq!(error.field.as_deref(), Some("name"));
    }
}
