//! The guard of `children=replace`: a replace deletes the stored parts and operations its
//! payload leaves out, but never what the shop floor has worked on. A job whose replace would
//! drop such a record is refused whole, before anything of it is written; the other records of
//! a bulk call go on (`ownership::a_replace_never_drops_what_the_floor_worked_on`).

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::tx::{Arg, Statements};
use super::StoreError;
use crate::domain::outcome::{ErrorCode, RecordError};
use crate::domain::record::{Children, JobRecord};

/// How many of the records a refusal names.
const NAMED: usize = 10;

/// For each stored job (id) whose replace would delete a record the floor worked on, the
/// refusal naming those records (`operation O-10`). `call` is every job of the call: a record
/// another of its jobs lists moves there instead of being deleted, and so does an operation
/// whose part another job lists without replacing its children
/// (`ownership::a_replace_lets_what_the_floor_worked_on_move_to_another_job`).
pub(crate) async fn refusals(
    statements: &mut dyn Statements,
    jobs: &[(Uuid, &JobRecord)],
    call: &[&JobRecord],
) -> Result<HashMap<Uuid, RecordError>, StoreError> {
    if jobs.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = jobs.iter().map(|(id, _)| *id).collect();
    let list = statements.dialect().id_list(1);
    let sql = format!(
        "SELECT CAST(p.job_id AS TEXT), 'part', p.external_source, p.external_id, \
                p.external_source, p.external_id FROM parts AS p \
         WHERE p.job_id IN {list} AND p.deleted_at IS NULL AND p.floor_at IS NOT NULL \
         UNION ALL \
         SELECT CAST(p.job_id AS TEXT), 'operation', o.external_source, o.external_id, \
                p.external_source, p.external_id \
         FROM operations AS o JOIN parts AS p ON p.id = o.part_id \
         WHERE p.job_id IN {list} AND p.deleted_at IS NULL AND o.deleted_at IS NULL \
           AND o.floor_at IS NOT NULL"
    );
    let ids_json = serde_json::to_string(&ids).expect("ids serialize");
    let worked = statements.rows(&sql, vec![Arg::from(ids_json)]).await?;
    let mut left_out: HashMap<Uuid, Vec<String>> = HashMap::new();
    let mut sent: HashSet<(&str, &str, &str)> = HashSet::new();
    let mut merged_parts: HashSet<(&str, &str)> = HashSet::new();
    for job in call {
        for part in &job.parts {
            let key = &part.record.key;
            sent.insert(("part", &key.source, &key.external_id));
            if job.children != Some(Children::Replace) {
                merged_parts.insert((&key.source, &key.external_id));
            }
            for operation in &part.operations {
                let key = &operation.record.key;
                sent.insert(("operation", &key.source, &key.external_id));
            }
        }
    }
    for row in &worked {
        let (job, kind) = (row.id(0)?, row.text(1)?);
        let (source, external_id) = (row.text(2)?, row.text(3)?);
        let part = (row.text(4)?, row.text(5)?);
        let kept = sent.contains(&(kind.as_str(), &source, &external_id))
            || (kind == "operation" && merged_parts.contains(&(&part.0, &part.1)));
        if !kept {
            left_out
                .entry(job)
                .or_default()
                .push(format!("{kind} {external_id}"));
        }
    }
    Ok(left_out
        .into_iter()
        .map(|(job, mut records)| {
            records.sort();
            let more = records.len().saturating_sub(NAMED);
            records.truncate(NAMED);
            let mut named = records.join(", ");
            if more > 0 {
                named.push_str(&format!(" and {more} more"));
            }
            let error = RecordError {
                code: ErrorCode::Conflict,
                field: Some("parts".to_owned()),
                message: format!(
                    "children=replace would delete what the shop floor has worked on ({named}); \
                     send those records again, or sync without children=replace"
                ),
            };
            (job, error)
        })
        .collect())
}
