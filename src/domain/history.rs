//! A sync call's entry in the sync history. The handler fills in a plain draft of what it knows
//! of the call; the store makes the entry from the draft and the results it wrote, inside the
//! sync's own transaction, so the entry exists exactly when the data does
//! (`history::every_sync_call_is_in_the_history`,
//! `concurrency::a_sync_that_does_not_commit_is_not_remembered`).

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::outcome::{Change, Counts, ErrorCode, RecordError, RecordResult, Synced};
use super::Entity;

/// One sync or bulk-sync call, as the sync history keeps it.
#[derive(Debug, Clone)]
pub struct ImportEntry {
    /// The entry's id, given when it is made so that the call's `sync.completed` event names it.
    pub id: Uuid,
    pub key_id: Uuid,
    /// `PUT /api-jobs/sync`, `POST /api-cells/bulk-sync`, …
    pub endpoint: String,
    pub entity: Entity,
    /// The distinct `external_source`s of the request's records.
    pub sources: Vec<String>,
    pub dry_run: bool,
    /// The HTTP status the call was answered with.
    pub status: u16,
    pub counts: Counts,
    /// The rejected records: `[{index, external_id, code, field, error}]`.
    pub error_details: serde_json::Value,
    /// Records, nested ones included, that kept a value the floor owns although the call sent
    /// another.
    pub kept: usize,
    /// What they kept: `[{index, entity, external_id, field, reason}]`.
    pub kept_details: serde_json::Value,
    pub duration_ms: u64,
    pub request_id: Option<String>,
}

/// How a call is answered, which decides the status its entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// One record: `201` created, `200` updated, else its rejection's status.
    Single,
    /// Many records: `200`, with a result per record.
    Bulk,
}

impl Answer {
    /// The call as the history names it: `PUT /api-jobs/sync`, `POST /api-cells/bulk-sync`.
    pub fn endpoint(self, entity: Entity) -> String {
        let (method, action) = match self {
            Answer::Single => ("PUT", "sync"),
            Answer::Bulk => ("POST", "bulk-sync"),
        };
        format!("{method} /api-{}/{action}", entity.plural())
    }
}

/// What the history needs to know of a call besides the results the store writes.
#[derive(Debug, Clone)]
pub struct HistoryDraft {
    pub key_id: Uuid,
    pub endpoint: String,
    pub entity: Entity,
    pub sources: Vec<String>,
    pub dry_run: bool,
    pub started: Instant,
    pub request_id: Option<String>,
    pub answer: Answer,
    /// Records refused before the store saw them, with their place in the request.
    pub rejected: Vec<RecordResult>,
}

impl HistoryDraft {
    /// The call's entry, from the results of the records the store wrote.
    pub fn entry(&self, written: &[RecordResult]) -> ImportEntry {
        let all = || written.iter().chain(&self.rejected);
        let status = match self.answer {
            Answer::Bulk => 200,
            Answer::Single => all().next().map_or(200, |r| single_status(&r.outcome)),
        };
        let error_details = all()
            .filter_map(|r| {
                let error = r.outcome.as_ref().err()?;
                Some(json!({
                    "index": r.index,
                    "external_id": r.external_id,
                    "code": error.code,
                    "field": error.field,
                    "error": error.describe(),
                }))
            })
            .collect();
        let mut kept = 0;
        let mut kept_details = Vec::new();
        for result in written {
            let Ok(synced) = &result.outcome else {
                continue;
            };
            synced.each(self.entity, &mut |entity, record| {
                kept += usize::from(!record.kept.is_empty());
                kept_details.extend(record.kept.iter().map(|note| {
                    json!({
                        "index": result.index,
                        "entity": entity.plural(),
                        "external_id": record.external_id,
                        "field": note.field,
                        "reason": note.reason,
                    })
                }));
            });
        }
        ImportEntry {
            id: Uuid::now_v7(),
            key_id: self.key_id,
            endpoint: self.endpoint.clone(),
            entity: self.entity,
            sources: self.sources.clone(),
            dry_run: self.dry_run,
            status,
            counts: [Counts::of(written), Counts::of(&self.rejected)]
                .into_iter()
                .sum(),
            error_details: serde_json::Value::Array(error_details),
            kept,
            kept_details: serde_json::Value::Array(kept_details),
            duration_ms: self.started.elapsed().as_millis() as u64,
            request_id: self.request_id.clone(),
        }
    }
}

impl HistoryDraft {
    /// The entry of a call refused whole, before any record of it was read (a bad query
    /// string or header, a body too large or of the wrong type): no records, its status, and
    /// why, as one error at index 0 with no `external_id`.
    pub fn refused_whole(
        &self,
        status: u16,
        code: &str,
        field: Option<&str>,
        message: &str,
    ) -> ImportEntry {
        let mut entry = self.entry(&[]);
        entry.status = status;
        entry.error_details = json!([{
            "index": null,
            "external_id": null,
            "code": code,
            "field": field,
            "error": message,
        }]);
        entry
    }
}

/// A sync-history entry as the API shows it.
#[derive(Debug, Serialize)]
pub struct ImportRecord {
    pub id: Uuid,
    pub endpoint: String,
    pub entity: String,
    pub key_id: Uuid,
    pub sources: Vec<String>,
    pub dry_run: bool,
    pub status: u16,
    pub total: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub errors: u64,
    /// Records that kept a value the floor owns although the call sent another.
    pub kept: u64,
    pub duration_ms: u64,
    pub request_id: Option<String>,
    pub created_at: String,
    /// Only when one entry is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<Vec<ImportError>>,
    /// Only when one entry is asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_details: Option<Vec<ImportKept>>,
}

/// A value a record of the call kept, as `HistoryDraft::entry` stores it (fields sorted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportKept {
    /// `jobs`, `parts`, `operations`: nested records are listed under their call's index.
    pub entity: String,
    pub external_id: String,
    pub field: String,
    pub index: u64,
    pub reason: String,
}

/// One refused record of a history entry, its fields in the order `HistoryDraft::entry`
/// stores them (a JSON object's, sorted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportError {
    pub code: String,
    pub error: String,
    pub external_id: Option<String>,
    pub field: Option<String>,
    /// The record's place in the call; `None` for a call refused whole, which had no records.
    pub index: Option<u64>,
}

/// The status a single sync is answered with: `201` for a new record, `200` for an existing
/// one, and a rejection's own status.
pub fn single_status(outcome: &Result<Synced, RecordError>) -> u16 {
    match outcome {
        Ok(synced) if synced.change == Change::Created => 201,
        Ok(_) => 200,
        Err(error) => error.code.status(),
    }
}

impl ErrorCode {
    /// The HTTP status the API answers a record refused with this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::ValidationError => 400,
            ErrorCode::ReferenceNotFound | ErrorCode::AmbiguousReference => 422,
            ErrorCode::Conflict => 409,
        }
    }
}

/// How a sync call ended, as the history filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Answered below 400 with no record rejected.
    Clean,
    /// Answered below 400 with at least one record rejected (a call refused whole, even for
    /// its one record, has failed): each call has one outcome.
    Rejected,
    /// Answered 400 or above.
    Failed,
}

impl ImportOutcome {
    pub const ALL: [ImportOutcome; 3] = [
        ImportOutcome::Clean,
        ImportOutcome::Rejected,
        ImportOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportOutcome::Clean => "clean",
            ImportOutcome::Rejected => "rejected",
            ImportOutcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<ImportOutcome> {
        ImportOutcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decode::FieldError;

    fn draft(answer: Answer, rejected: Vec<RecordResult>) -> HistoryDraft {
        HistoryDraft {
            key_id: Uuid::nil(),
            endpoint: "PUT /api-cells/sync".into(),
            entity: Entity::Cells,
            sources: vec!["SAP".into()],
            dry_run: false,
            started: Instant::now(),
            request_id: None,
            answer,
            rejected,
        }
    }

    fn written(index: usize, change: Change) -> RecordResult {
        RecordResult {
            index,
            external_id: Some(format!("C-{index}")),
            outcome: Ok(Synced::leaf(Uuid::nil(), format!("C-{index}"), change)),
        }
    }

    fn refused(index: usize) -> RecordResult {
        let error = RecordError::invalid(FieldError {
            field: Some("name".into()),
            message: "is required".into(),
        });
        RecordResult {
            index,
            external_id: Some(format!("C-{index}")),
            outcome: Err(error),
        }
    }

    #[test]
    fn a_single_call_records_its_records_status() {
        let created = draft(Answer::Single, Vec::new()).entry(&[written(0, Change::Created)]);
        assert_eq!(created.status, 201);
        let updated = draft(Answer::Single, Vec::new()).entry(&[written(0, Change::Updated)]);
        assert_eq!(updated.status, 200);
        let invalid = draft(Answer::Single, vec![refused(0)]).entry(&[]);
        assert_eq!(invalid.status, 400);
        assert_eq!(invalid.counts.errors, 1);
    }

    #[test]
    fn a_bulk_call_counts_written_and_refused_records_once_each() {
        let entry = draft(Answer::Bulk, vec![refused(1)])
            .entry(&[written(0, Change::Created), written(2, Change::Updated)]);
        assert_eq!(entry.status, 200);
        let counts = (
            entry.counts.total,
            entry.counts.created,
            entry.counts.errors,
        );
        assert_eq!(counts, (3, 1, 1));
        assert_eq!(entry.error_details[0]["index"], 1);
        assert_eq!(entry.error_details[0]["field"], "name");
        // Read back, the details print as they were stored.
        let stored = entry.error_details.to_string();
        let read: Vec<ImportError> = serde_json::from_str(&stored).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), stored);
    }
}
