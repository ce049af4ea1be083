//! Deleting one record, written once for both engines: a job takes its parts and operations
//! along, a part its operations; a cell live operations use stays, and so does a record the
//! floor has worked on. Each deleted record writes its `{kind}.deleted` event with it.

use super::events::append;
use super::floor::{find_operation, key_condition};
use super::part_state::follow_lost_operation;
use super::tx::Statements;
use super::{timestamp, Deletion, RecordRef, StoreError};
use crate::domain::event::NewEvent;
use crate::domain::{Entity, Scope};

/// How many of the records the floor worked on a refusal names.
const NAMED: i64 = 10;

/// The records under (and including) the one deleted that the floor has acted on, as
/// `operation O-10`; the delete is refused while there is one
/// (`ownership::deleting_what_the_floor_worked_on_is_refused`).
fn floor_worked_sql(entity: Entity) -> Option<String> {
    let own = |kind: &str, table: &str| {
        format!(
            "SELECT '{kind} ' || external_id FROM {table} \
             WHERE id = $1::uuid AND floor_at IS NOT NULL"
        )
    };
    let operations = |parts: &str| {
        format!(
            "SELECT 'operation ' || external_id FROM operations \
             WHERE part_id IN ({parts}) AND deleted_at IS NULL AND floor_at IS NOT NULL"
        )
    };
    let union = match entity {
        Entity::Jobs => vec![
            own("job", "jobs"),
            format!(
                "SELECT 'part ' || external_id FROM parts \
                 WHERE job_id = $1::uuid AND deleted_at IS NULL AND floor_at IS NOT NULL"
            ),
            operations("SELECT id FROM parts WHERE job_id = $1::uuid"),
        ],
        Entity::Parts => vec![own("part", "parts"), operations("$1::uuid")],
        Entity::Operations => vec![own("operation", "operations")],
        Entity::Cells | Entity::Resources => return None,
    };
    Some(format!("{} LIMIT {NAMED}", union.join(" UNION ALL ")))
}

/// Soft-deletes the live record `target` names, in `tx`, which the caller commits.
pub(crate) async fn delete(
    tx: &mut dyn Statements,
    scope: Scope,
    entity: Entity,
    target: &RecordRef,
) -> Result<Deletion, StoreError> {
    if entity == Entity::Operations {
        // Its part may complete with it: locked as the floor's writes lock it, in their order.
        find_operation(tx, scope, target, "NULL").await?;
    }
    let (key, args) = key_condition("t", scope, target);
    // Locked: a concurrent sync restoring this record waits for the delete, or wins.
    let sql = format!(
        "SELECT CAST(t.id AS TEXT), t.external_id FROM {} AS t \
         WHERE t.tenant_id = $1::uuid AND t.mode = $2::text AND {key} AND t.deleted_at IS NULL{}",
        entity.plural(),
        tx.dialect().lock_rows()
    );
    let Some(found) = tx.row(&sql, args).await? else {
        return Ok(Deletion::NotFound);
    };
    let id = found.id(0)?;
    if entity == Entity::Cells {
        let operations = tx
            .row(
                "SELECT CAST(count(*) AS BIGINT) FROM operations \
                 WHERE cell_id = $1::uuid AND deleted_at IS NULL",
                vec![id.into()],
            )
            .await?
            .map_or(Ok(0), |row| row.int(0))?;
        if operations > 0 {
            return Ok(Deletion::InUse {
                operations: operations as u64,
            });
        }
    }
    if let Some(sql) = floor_worked_sql(entity) {
        let worked = tx.rows(&sql, vec![id.into()]).await?;
        if !worked.is_empty() {
            let records = worked
                .iter()
                .map(|row| row.text(0))
                .collect::<Result<_, _>>()?;
            return Ok(Deletion::FloorWorked { records });
        }
    }
    let now = timestamp();
    let mut affected = [0u64; 3];
    let mut events = Vec::new();
    let kinds = [entity, Entity::Parts, Entity::Operations];
    for (slot, sql) in Cascade::of(entity, "$1::uuid", "$2::timestamptz").statements() {
        let sql = format!("{sql} RETURNING CAST(id AS TEXT), external_source, external_id");
        let rows = tx.rows(&sql, vec![id.into(), now.as_str().into()]).await?;
        affected[slot] = rows.len() as u64;
        for row in rows {
            let (record, source, external) = (row.id(0)?, row.text(1)?, row.text(2)?);
            events.push(NewEvent::tombstone(
                kinds[slot],
                record,
                source,
                external,
                &now,
            ));
        }
    }
    if entity == Entity::Operations {
        // The part follows: a part the floor never worked on keeps its status
        // (`floor_records::deleting_an_operation_leaves_an_unworked_parts_status`).
        events.extend(follow_lost_operation(tx, id, &now).await?);
    }
    let appended = append(tx, scope, &events, &now).await?;
    tx.after_commit(appended);
    Ok(Deletion::Deleted {
        id,
        external_id: found.text(1)?,
        parts: affected[1],
        operations: affected[2],
    })
}

/// The statements that soft-delete a record, then its parts, then its operations, written with
/// the engine's placeholders for the record's id and the time of deletion.
struct Cascade {
    own: String,
    parts: Option<String>,
    operations: Option<String>,
}

impl Cascade {
    fn of(entity: Entity, id: &str, now: &str) -> Cascade {
        let set = format!("SET deleted_at = {now}, updated_at = {now}");
        let live = "deleted_at IS NULL";
        let own = format!("UPDATE {} {set} WHERE id = {id}", entity.plural());
        let (parts, operations) = match entity {
            Entity::Jobs => (
                Some(format!("UPDATE parts {set} WHERE job_id = {id} AND {live}")),
                Some(format!(
                    "UPDATE operations {set} \
                     WHERE part_id IN (SELECT id FROM parts WHERE job_id = {id}) AND {live}"
                )),
            ),
            Entity::Parts => (
                None,
                Some(format!(
                    "UPDATE operations {set} WHERE part_id = {id} AND {live}"
                )),
            ),
            Entity::Operations | Entity::Cells | Entity::Resources => (None, None),
        };
        Cascade {
            own,
            parts,
            operations,
        }
    }

    /// The statements to run in order, each with the slot (record, parts, operations) its
    /// affected-row count belongs to.
    fn statements(self) -> impl Iterator<Item = (usize, String)> {
        [Some(self.own), self.parts, self.operations]
            .into_iter()
            .enumerate()
            .filter_map(|(slot, sql)| sql.map(|sql| (slot, sql)))
    }
}
