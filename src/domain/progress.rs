//! The floor's progress on a record as the API shows it after a lifecycle action: the
//! record's identity, its status and times, and the names of what it belongs to.

use serde::Serialize;
use uuid::Uuid;

use super::view::RecordView;

/// A job as a job action answers it.
#[derive(Debug, Clone, Serialize)]
pub struct JobProgress {
    pub id: Uuid,
    pub external_source: String,
    pub external_id: String,
    pub job_number: String,
    pub status: String,
    pub started_at: Option<String>,
    pub paused_at: Option<String>,
    pub resumed_at: Option<String>,
    pub completed_at: Option<String>,
    pub actual_duration_minutes: i64,
    pub updated_at: String,
}

/// The part an operation belongs to, with its job's number.
#[derive(Debug, Clone, Serialize)]
pub struct PartLabel {
    pub id: Uuid,
    pub external_id: String,
    pub part_number: String,
    pub job: JobLabel,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobLabel {
    pub id: Uuid,
    pub external_id: String,
    pub job_number: String,
}

/// An operation as an operation action or a quantity report answers it.
#[derive(Debug, Clone, Serialize)]
pub struct OperationProgress {
    pub id: Uuid,
    pub external_source: String,
    pub external_id: String,
    pub operation_name: String,
    pub sequence: Option<i64>,
    pub status: String,
    pub started_at: Option<String>,
    pub paused_at: Option<String>,
    pub completed_at: Option<String>,
    pub actual_time_minutes: i64,
    pub completion_percentage: i64,
    pub quantity_good: i64,
    pub quantity_scrap: i64,
    pub quantity_rework: i64,
    pub part_id: Uuid,
    pub cell_id: Uuid,
    pub updated_at: String,
    pub part: PartLabel,
}

/// A stretch of work on an operation: opened by start or resume, closed by pause or complete.
#[derive(Debug, Clone, Serialize)]
pub struct TimeEntry {
    pub id: Uuid,
    pub operation_id: Uuid,
    pub operator: Option<String>,
    pub note: Option<String>,
    pub start_time: String,
    pub end_time: Option<String>,
    pub duration_minutes: Option<i64>,
}

/// What a lifecycle action did.
#[derive(Debug, Clone)]
pub struct Transition {
    pub previous_status: String,
    pub new_status: String,
    pub record: Progress,
    /// The time entry the action closed (pause, complete), if one was open.
    pub time_entry_ended: Option<TimeEntry>,
}

#[derive(Debug, Clone)]
pub enum Progress {
    Job(JobProgress),
    Operation(OperationProgress),
}

impl JobProgress {
    /// A job's progress from the job as `GET` shows it: what a job action answers, read once
    /// with the record its event carries (`floor::jobs_have_their_own_lifecycle`).
    pub fn of(job: &RecordView) -> JobProgress {
        JobProgress {
            id: job.id,
            external_source: job.external_source.clone().unwrap_or_default(),
            external_id: job.external_id.clone(),
            job_number: job.text("job_number").unwrap_or_default(),
            status: job.text("status").unwrap_or_default(),
            started_at: job.text("started_at"),
            paused_at: job.text("paused_at"),
            resumed_at: job.text("resumed_at"),
            completed_at: job.text("completed_at"),
            actual_duration_minutes: job.int("actual_duration_minutes").unwrap_or(0),
            updated_at: job.updated_at.clone(),
        }
    }
}

impl OperationProgress {
    /// An operation's progress from the operation as `GET` shows it and the labels of its
    /// part and job: what an operation action answers, read once with the record its event
    /// carries (`floor::an_operation_goes_through_its_lifecycle`).
    pub fn of(operation: &RecordView, part: PartLabel) -> OperationProgress {
        let count = |column| operation.int(column).unwrap_or(0);
        OperationProgress {
            id: operation.id,
            external_source: operation.external_source.clone().unwrap_or_default(),
            external_id: operation.external_id.clone(),
            operation_name: operation.text("operation_name").unwrap_or_default(),
            sequence: operation.int("sequence"),
            status: operation.text("status").unwrap_or_default(),
            started_at: operation.text("started_at"),
            paused_at: operation.text("paused_at"),
            completed_at: operation.text("completed_at"),
            actual_time_minutes: count("actual_time_minutes"),
            completion_percentage: count("completion_percentage"),
            quantity_good: count("quantity_good"),
            quantity_scrap: count("quantity_scrap"),
            quantity_rework: count("quantity_rework"),
            part_id: part.id,
            cell_id: operation.reference("cell_id").unwrap_or_default(),
            updated_at: operation.updated_at.clone(),
            part,
        }
    }
}
