//! The floor's progress on a record as the API shows it after a lifecycle action: the
//! record's identity, its status and times, and the names of what it belongs to.

use serde::Serialize;
use uuid::Uuid;

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
