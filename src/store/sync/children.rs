//! A job's children under `children=replace`: refused when the replace would delete what the
//! shop floor worked on (`store/replace.rs`), otherwise the stored ones its payload left out
//! are deleted and listed in its answer.

use std::collections::HashMap;

use uuid::Uuid;

use super::{Retired, SyncWriter};
use crate::domain::outcome::{Change, RecordError, Synced};
use crate::domain::record::{Children, Indexed, JobRecord};
use crate::domain::schema::Entity;
use crate::store::replace::Replacing;
use crate::store::StoreError;

/// The refusals, by batch index, of the replacing jobs that would delete what the floor worked
/// on (`store/replace.rs`).
pub(super) async fn replace_refusals<W: SyncWriter>(
    writer: &mut W,
    ready: &[(&Indexed<JobRecord>, Vec<Vec<Uuid>>)],
) -> Result<HashMap<usize, RecordError>, StoreError> {
    let replacing: Vec<&Indexed<JobRecord>> = ready
        .iter()
        .map(|(item, _)| *item)
        .filter(|item| item.item.children == Some(Children::Replace))
        .collect();
    if replacing.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<(&str, &str)> = replacing
        .iter()
        .map(|i| {
            let key = &i.item.record.key;
            (key.source.as_str(), key.external_id.as_str())
        })
        .collect();
    let ids = writer.resolve(Entity::Jobs, &keys).await?;
    // The stored parts each payload lists, wherever they are now: their operations the
    // payload leaves out are deleted too, also those of a part taken in from another job.
    let part_keys: Vec<Vec<(&str, &str)>> = replacing
        .iter()
        .map(|i| {
            let parts = i.item.parts.iter().map(|p| &p.record.key);
            parts
                .map(|k| (k.source.as_str(), k.external_id.as_str()))
                .collect()
        })
        .collect();
    let flat: Vec<(&str, &str)> = part_keys.iter().flatten().copied().collect();
    let mut part_ids = writer.resolve(Entity::Parts, &flat).await?.into_iter();
    let jobs: Vec<Replacing> = replacing
        .iter()
        .zip(&ids)
        .zip(&part_keys)
        .map(|((item, id), keys)| Replacing {
            job: *id,
            listed_parts: part_ids.by_ref().take(keys.len()).flatten().collect(),
            record: &item.item,
        })
        .collect();
    let call: Vec<&JobRecord> = ready.iter().map(|(item, _)| &item.item).collect();
    let mut by_place =
        crate::store::replace::refusals(&mut writer.statements(), &jobs, &call).await?;
    Ok(replacing
        .iter()
        .enumerate()
        .filter_map(|(i, item)| Some((item.index, by_place.remove(&i)?)))
        .collect())
}

/// Deletes the stored parts and operations of these jobs that their payloads left out, and
/// lists them in each job's answer as deleted.
pub(super) async fn retire_left_out_children<W: SyncWriter>(
    writer: &mut W,
    jobs: &mut [&mut Synced],
) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let job_ids: Vec<Uuid> = jobs.iter().map(|j| j.id).collect();
    let kept_parts: Vec<Uuid> = jobs.iter().flat_map(|j| &j.parts).map(|p| p.id).collect();
    let retired_parts = writer.retire(Entity::Parts, &job_ids, &kept_parts).await?;
    let kept_operations: Vec<Uuid> = jobs
        .iter()
        .flat_map(|j| &j.parts)
        .flat_map(|p| &p.operations)
        .map(|o| o.id)
        .collect();
    let parts_of_operations: Vec<Uuid> = kept_parts
        .iter()
        .copied()
        .chain(retired_parts.iter().map(|r| r.id))
        .collect();
    let retired_operations = writer
        .retire(Entity::Operations, &parts_of_operations, &kept_operations)
        .await?;
    let deleted = |r: &Retired| Synced::leaf(r.id, r.external_id.clone(), Change::Deleted);
    for job in jobs.iter_mut() {
        for part in job.parts.iter_mut() {
            part.operations.extend(
                retired_operations
                    .iter()
                    .filter(|o| o.parent == part.id)
                    .map(deleted),
            );
        }
        for retired in retired_parts.iter().filter(|p| p.parent == job.id) {
            let mut part = deleted(retired);
            part.operations = retired_operations
                .iter()
                .filter(|o| o.parent == retired.id)
                .map(deleted)
                .collect();
            job.parts.push(part);
        }
    }
    Ok(())
}
