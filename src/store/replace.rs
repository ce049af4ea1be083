//! The guard of `children=replace`: a replace deletes the stored parts and operations its
//! payload leaves out, but never what the shop floor has worked on. A job whose replace would
//! drop such a record is refused whole, before anything of it is written; the other records of
//! a bulk call go on (`ownership::a_replace_never_drops_what_the_floor_worked_on`).

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::tx::{Arg, Row, Statements};
use super::StoreError;
use crate::domain::outcome::{ErrorCode, RecordError};
use crate::domain::record::{Children, JobRecord};

/// How many of the records a refusal names.
const NAMED: usize = 10;

/// A job of the call that replaces its children: its id if it is stored, and the ids of the
/// stored parts its payload lists, wherever they are now.
pub(crate) struct Replacing<'a> {
    pub job: Option<Uuid>,
    pub listed_parts: Vec<Uuid>,
    pub record: &'a JobRecord,
}

/// A record the floor worked on that a replace may delete: held by a stored replacing job, or
/// an operation of a part a replacing job lists (whose stored operations the replace deletes
/// when its payload leaves them out, even when the part comes from another job).
struct AtRisk {
    /// The job (`true`) or the listed part (`false`) through which it is at risk.
    through_job: bool,
    holder: Uuid,
    kind: String,
    source: String,
    external_id: String,
    part: (String, String),
}

impl AtRisk {
    fn of(row: &Row) -> Result<AtRisk, StoreError> {
        Ok(AtRisk {
            through_job: row.text(0)? == "job",
            holder: row.id(1)?,
            kind: row.text(2)?,
            source: row.text(3)?,
            external_id: row.text(4)?,
            part: (row.text(5)?, row.text(6)?),
        })
    }
}

/// For each replacing job (by its place in `jobs`) whose replace would delete a record the
/// floor worked on, the refusal naming those records (`operation O-10`). `call` is every job
/// of the call: a record another of its jobs lists moves there instead of being deleted, and
/// so does an operation whose part another job lists without replacing its children
/// (`ownership::a_replace_lets_what_the_floor_worked_on_move_to_another_job`). A job refused
/// moves nothing, so the refusals are worked out again without it until they stand: what it
/// listed stays where it is, and another replace may then delete it.
pub(crate) async fn refusals(
    statements: &mut dyn Statements,
    jobs: &[Replacing<'_>],
    call: &[&JobRecord],
) -> Result<HashMap<usize, RecordError>, StoreError> {
    let job_ids: Vec<Uuid> = jobs.iter().filter_map(|j| j.job).collect();
    let part_ids: Vec<Uuid> = jobs.iter().flat_map(|j| j.listed_parts.clone()).collect();
    if job_ids.is_empty() && part_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let (by_job, by_part) = (
        statements.dialect().id_list(1),
        statements.dialect().id_list(2),
    );
    let sql = format!(
        "SELECT 'job', CAST(p.job_id AS TEXT), 'part', p.external_source, p.external_id, \
                p.external_source, p.external_id FROM parts AS p \
         WHERE p.job_id IN {by_job} AND p.deleted_at IS NULL AND p.floor_at IS NOT NULL \
         UNION ALL \
         SELECT 'job', CAST(p.job_id AS TEXT), 'operation', o.external_source, o.external_id, \
                p.external_source, p.external_id \
         FROM operations AS o JOIN parts AS p ON p.id = o.part_id \
         WHERE p.job_id IN {by_job} AND p.deleted_at IS NULL AND o.deleted_at IS NULL \
           AND o.floor_at IS NOT NULL \
         UNION ALL \
         SELECT 'part', CAST(o.part_id AS TEXT), 'operation', o.external_source, o.external_id, \
                p.external_source, p.external_id \
         FROM operations AS o JOIN parts AS p ON p.id = o.part_id \
         WHERE o.part_id IN {by_part} AND o.deleted_at IS NULL AND o.floor_at IS NOT NULL"
    );
    let json = |ids: &[Uuid]| Arg::from(serde_json::to_string(ids).expect("ids serialize"));
    let rows = statements
        .rows(&sql, vec![json(&job_ids), json(&part_ids)])
        .await?;
    let at_risk: Vec<AtRisk> = rows.iter().map(AtRisk::of).collect::<Result<_, _>>()?;

    if at_risk.is_empty() {
        return Ok(HashMap::new());
    }
    let mut refused: HashMap<usize, Vec<String>> = HashMap::new();
    loop {
        // Only the refused jobs are looked for among the call's: a bulk call of 1000
        // replacing jobs compared every pair in each round.
        let stopped: HashSet<*const JobRecord> = refused
            .keys()
            .map(|i| jobs[*i].record as *const JobRecord)
            .collect();
        let going_on: Vec<&JobRecord> = call
            .iter()
            .copied()
            .filter(|job| !stopped.contains(&(*job as *const JobRecord)))
            .collect();
        let found = left_out(jobs, &at_risk, &going_on);
        if found.len() == refused.len() {
            return Ok(found
                .into_iter()
                .map(|(i, named)| (i, refusal(named)))
                .collect());
        }
        refused = found;
    }
}

/// Per replacing job, the records at risk that no job going on lists.
fn left_out(
    jobs: &[Replacing<'_>],
    at_risk: &[AtRisk],
    going_on: &[&JobRecord],
) -> HashMap<usize, Vec<String>> {
    let mut sent: HashSet<(&str, &str, &str)> = HashSet::new();
    let mut merged_parts: HashSet<(&str, &str)> = HashSet::new();
    for job in going_on {
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
    let mut left_out: HashMap<usize, Vec<String>> = HashMap::new();
    for risk in at_risk {
        let kept = sent.contains(&(risk.kind.as_str(), &risk.source, &risk.external_id))
            || (risk.kind == "operation"
                && merged_parts.contains(&(risk.part.0.as_str(), risk.part.1.as_str())));
        if kept {
            continue;
        }
        for (i, job) in jobs.iter().enumerate() {
            let holds = match risk.through_job {
                true => job.job == Some(risk.holder),
                false => job.listed_parts.contains(&risk.holder),
            };
            if holds {
                let named = left_out.entry(i).or_default();
                let name = format!("{} {}", risk.kind, risk.external_id);
                if !named.contains(&name) {
                    named.push(name);
                }
            }
        }
    }
    left_out
}

fn refusal(mut records: Vec<String>) -> RecordError {
    records.sort();
    let more = records.len().saturating_sub(NAMED);
    records.truncate(NAMED);
    let mut named = records.join(", ");
    if more > 0 {
        named.push_str(&format!(" and {more} more"));
    }
    RecordError {
        code: ErrorCode::Conflict,
        field: Some("parts".to_owned()),
        message: format!(
            "children=replace would delete what the shop floor has worked on ({named}); \
             send those records again, or sync without children=replace"
        ),
    }
}
