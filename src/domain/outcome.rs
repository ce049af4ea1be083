//! What became of each record of a sync.

use serde::Serialize;
use uuid::Uuid;

use super::decode::FieldError;
use super::Entity;

/// Why a record was rejected, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    ReferenceNotFound,
    AmbiguousReference,
    /// The record would undo what the shop floor did (a replace leaving out worked children).
    Conflict,
}

/// A rejected record: the code, the field at fault and a sentence for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub code: ErrorCode,
    pub field: Option<String>,
    pub message: String,
}

impl RecordError {
    pub fn invalid(error: FieldError) -> Self {
        RecordError {
            code: ErrorCode::ValidationError,
            field: error.field,
            message: error.message,
        }
    }

    pub fn reference(code: ErrorCode, field: impl Into<String>, message: String) -> Self {
        RecordError {
            code,
            field: Some(field.into()),
            message,
        }
    }

    /// The same error seen from an enclosing record.
    pub fn within(self, prefix: &str) -> Self {
        RecordError {
            field: Some(super::decode::within(prefix, self.field.as_deref())),
            ..self
        }
    }

    pub fn describe(&self) -> String {
        FieldError {
            field: self.field.clone(),
            message: self.message.clone(),
        }
        .describe()
    }
}

/// What a sync did to one stored row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    /// Every value sent equals the stored one: nothing was written.
    Unchanged,
    /// A child the payload no longer lists, removed by a sync that replaces children.
    Deleted,
}

/// A record the store holds after a sync, with what happened to its nested children.
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    pub id: Uuid,
    pub external_id: String,
    pub change: Change,
    pub parts: Vec<Synced>,
    pub operations: Vec<Synced>,
    /// Sent values the record did not take, because the floor owns those fields now.
    pub kept: Vec<Kept>,
}

/// A field a sync sent that the record kept as it was: the floor owns it since it acted on
/// the record (`ownership::a_sync_keeps_the_floors_status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Kept {
    pub field: &'static str,
    pub reason: String,
}

impl Kept {
    /// `field` kept its stored `value` although the sync sent another.
    pub fn floor_owned(field: &'static str, value: &str) -> Kept {
        Kept {
            field,
            reason: format!(
                "the shop floor owns {field} once it has acted on the record; it stays {value:?}"
            ),
        }
    }
}

impl Kept {
    /// `field` took `value` by a rule of the floor (a part follows its operations), not the
    /// value the sync sent.
    pub fn followed(field: &'static str, value: &str) -> Kept {
        Kept {
            field,
            reason: format!(
                "the shop floor owns {field} once it has acted on the record; it is now \
                 {value:?}, following its operations"
            ),
        }
    }
}

impl Synced {
    pub fn leaf(id: Uuid, external_id: String, change: Change) -> Self {
        Synced {
            id,
            external_id,
            change,
            parts: Vec::new(),
            operations: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// Every record of the tree: this one, its parts, their operations and its operations.
    pub fn each_mut(&mut self, visit: &mut impl FnMut(&mut Synced)) {
        visit(self);
        for child in self.parts.iter_mut().chain(self.operations.iter_mut()) {
            child.each_mut(visit);
        }
    }

    /// Every record of the tree with its entity (`entity` is this one's), as
    /// [`Synced::each_mut`] visits them.
    pub fn each<'a>(&'a self, entity: Entity, visit: &mut impl FnMut(Entity, &'a Synced)) {
        visit(entity, self);
        for part in &self.parts {
            part.each(Entity::Parts, visit);
        }
        for operation in &self.operations {
            operation.each(Entity::Operations, visit);
        }
    }

    /// A job or part whose own row is unchanged still counts as updated when anything nested
    /// below it was created or updated: the integrator asked "did this sync change anything".
    pub fn rolled_up(mut self) -> Self {
        self.roll_up();
        self
    }

    /// [`Synced::rolled_up`] in place.
    pub fn roll_up(&mut self) {
        for part in &mut self.parts {
            part.roll_up();
        }
        let child_changed = self
            .parts
            .iter()
            .chain(&self.operations)
            .any(|child| child.change != Change::Unchanged);
        if self.change == Change::Unchanged && child_changed {
            self.change = Change::Updated;
        }
    }
}

/// The result of one record of a request, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordResult {
    pub index: usize,
    pub external_id: Option<String>,
    pub outcome: Result<Synced, RecordError>,
}

/// Counts over a bulk request. `updated` includes `unchanged`, so that
/// `total = created + updated + errors`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: usize,
}

/// A bulk call's results in input order: the records the store wrote and those refused before
/// it, each once (the property tests check this against a model of the call).
pub fn merged(mut written: Vec<RecordResult>, rejected: Vec<RecordResult>) -> Vec<RecordResult> {
    written.extend(rejected);
    written.sort_by_key(|r| r.index);
    written
}

impl std::iter::Sum for Counts {
    fn sum<I: Iterator<Item = Counts>>(counts: I) -> Counts {
        counts.fold(Counts::default(), |sum, c| Counts {
            total: sum.total + c.total,
            created: sum.created + c.created,
            updated: sum.updated + c.updated,
            unchanged: sum.unchanged + c.unchanged,
            errors: sum.errors + c.errors,
        })
    }
}

impl Counts {
    pub fn of(results: &[RecordResult]) -> Counts {
        let mut counts = Counts {
            total: results.len(),
            ..Counts::default()
        };
        for result in results {
            match &result.outcome {
                Ok(synced) => match synced.change {
                    Change::Created => counts.created += 1,
                    // Only children are ever deleted by a sync; a top-level record that
                    // lost children was updated.
                    Change::Updated | Change::Deleted => counts.updated += 1,
                    Change::Unchanged => {
                        counts.updated += 1;
                        counts.unchanged += 1;
                    }
                },
                Err(_) => counts.errors += 1,
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synced(change: Change) -> Synced {
        Synced::leaf(Uuid::nil(), "x".into(), change)
    }

    #[test]
    fn a_changed_operation_makes_its_job_updated() {
        let mut part = synced(Change::Unchanged);
        part.operations.push(synced(Change::Created));
        let mut job = synced(Change::Unchanged);
        job.parts.push(part);
        let job = job.rolled_up();
        assert_eq!(job.change, Change::Updated);
        assert_eq!(job.parts[0].change, Change::Updated);
    }

    #[test]
    fn a_deleted_child_makes_its_job_updated() {
        let mut job = synced(Change::Unchanged);
        job.parts.push(synced(Change::Deleted));
        assert_eq!(job.rolled_up().change, Change::Updated);
    }

    #[test]
    fn an_unchanged_tree_stays_unchanged() {
        let mut job = synced(Change::Unchanged);
        job.parts.push(synced(Change::Unchanged));
        assert_eq!(job.rolled_up().change, Change::Unchanged);
    }

    #[test]
    fn counts_add_up_to_total() {
        let results: Vec<RecordResult> = [
            Ok(synced(Change::Created)),
            Ok(synced(Change::Unchanged)),
            Ok(synced(Change::Updated)),
            Err(RecordError::invalid(FieldError::new("a", "b"))),
        ]
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| RecordResult {
            index,
            external_id: None,
            outcome,
        })
        .collect();
        let counts = Counts::of(&results);
        assert_eq!(
            counts,
            Counts {
                total: 4,
                created: 1,
                updated: 2,
                unchanged: 1,
                errors: 1
            }
        );
    }
}
