//! What the shop floor does to jobs and operations: the actions, the state machines that allow
//! them, and what a terminal reports with each. No I/O.
//!
//! The machines follow Eryxon's lifecycle APIs: an operation is started once, paused and
//! resumed any number of times and completed once; a job may also be started again from hold.

use serde::Deserialize;
use time::OffsetDateTime;

use super::decode::FieldError;
use super::value::{LongText, ShortText, WorkStatus};

/// Whether a column is the floor's once the floor has acted on the record (`floor_at` set):
/// a sync then leaves it as the floor made it (`ownership::a_sync_keeps_the_floors_status`).
pub fn is_floor_owned(entity: super::Entity, column: &str) -> bool {
    floor_acts_on(entity) && column == "status"
}

/// Whether the floor can act on records of `entity`, which then carry `floor_at`.
pub fn floor_acts_on(entity: super::Entity) -> bool {
    use super::Entity::*;
    matches!(entity, Jobs | Parts | Operations)
}

/// A sync's condition on a sent value of `column`: it is written (and counts as a change)
/// only while the floor has not taken the record over.
pub fn sync_may_write(entity: super::Entity, column: &str, sent: String) -> String {
    if is_floor_owned(entity, column) {
        format!("({sent} AND t.floor_at IS NULL)")
    } else {
        sent
    }
}

/// What a sync's update stores as the row's fingerprint: none once the floor has taken the row
/// over, so that every later sync compares its values (and reports a floor-owned value it
/// could not write as `kept`) instead of passing it as an unchanged re-send
/// (`ownership::a_sync_keeps_the_floors_status`).
pub fn synced_fingerprint(entity: super::Entity) -> &'static str {
    use super::Entity::*;
    match entity {
        Jobs | Parts | Operations => {
            "CASE WHEN t.floor_at IS NULL THEN excluded.sync_fingerprint END"
        }
        Cells | Resources => "excluded.sync_fingerprint",
    }
}

/// Which lifecycle a request drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    Job,
    Operation,
}

/// A lifecycle action. Holding is `pause` for an operation and `stop` for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Hold,
    Resume,
    Complete,
}

const ACTIONS: [Action; 4] = [
    Action::Start,
    Action::Hold,
    Action::Resume,
    Action::Complete,
];

/// A transition the record's status does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTransition {
    pub message: String,
}

impl Machine {
    /// The record's name in messages and event types.
    pub fn noun(self) -> &'static str {
        match self {
            Machine::Job => "job",
            Machine::Operation => "operation",
        }
    }

    /// The action a path segment names, or why there is none.
    pub fn action(self, text: &str) -> Result<Action, FieldError> {
        ACTIONS
            .into_iter()
            .find(|a| self.name(*a) == text)
            .ok_or_else(|| {
                let names: Vec<&str> = ACTIONS.iter().map(|a| self.name(*a)).collect();
                FieldError::new(
                    "action",
                    format!(
                        "unknown {} action {text:?}; use one of {}",
                        self.noun(),
                        names.join(", ")
                    ),
                )
            })
    }

    /// The action as the path, the answer and the event type name it.
    pub fn name(self, action: Action) -> &'static str {
        match (self, action) {
            (_, Action::Start) => "start",
            (Machine::Job, Action::Hold) => "stop",
            (Machine::Operation, Action::Hold) => "pause",
            (_, Action::Resume) => "resume",
            (_, Action::Complete) => "complete",
        }
    }

    /// The status `action` leads to from `from`, or a message naming the status and the
    /// actions it allows (`floor::a_transition_the_status_does_not_allow_is_explained`).
    pub fn next(self, from: WorkStatus, action: Action) -> Result<WorkStatus, InvalidTransition> {
        if self.allows(from, action) {
            return Ok(match action {
                Action::Start | Action::Resume => WorkStatus::InProgress,
                Action::Hold => WorkStatus::OnHold,
                Action::Complete => WorkStatus::Completed,
            });
        }
        let allowed: Vec<&str> = ACTIONS
            .into_iter()
            .filter(|a| self.allows(from, *a))
            .map(|a| self.name(a))
            .collect();
        let then = if allowed.is_empty() {
            "it is final; no action is allowed".to_owned()
        } else {
            format!("allowed: {}", allowed.join(", "))
        };
        Err(InvalidTransition {
            message: format!(
                "cannot {} {} with status '{}'; {then}",
                self.name(action),
                self.noun(),
                from.as_str()
            ),
        })
    }

    fn allows(self, from: WorkStatus, action: Action) -> bool {
        use WorkStatus::*;
        match action {
            // Start on hold continues, as resume does: Eryxon's own terminals send it
            // (its reference: "status must be `not_started` or `on_hold`"), `floor::an_operation_goes_through_its_lifecycle`.
            Action::Start => from == NotStarted || from == OnHold,
            Action::Hold | Action::Complete => from == InProgress,
            Action::Resume => from == OnHold,
        }
    }

    /// The event a transition writes: `operation.paused`, `job.stopped`, …
    pub fn event_type(self, action: Action) -> &'static str {
        match (self, action) {
            (Machine::Job, Action::Start) => "job.started",
            (Machine::Job, Action::Hold) => "job.stopped",
            (Machine::Job, Action::Resume) => "job.resumed",
            (Machine::Job, Action::Complete) => "job.completed",
            (Machine::Operation, Action::Start) => "operation.started",
            (Machine::Operation, Action::Hold) => "operation.paused",
            (Machine::Operation, Action::Resume) => "operation.resumed",
            (Machine::Operation, Action::Complete) => "operation.completed",
        }
    }
}

impl Action {
    /// Whether this action opens a time entry (start, resume) or closes the open one.
    pub fn opens_time(self) -> bool {
        matches!(self, Action::Start | Action::Resume)
    }
}

/// The optional body of a lifecycle request, as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    #[serde(default)]
    pub operator: Option<ShortText>,
    /// RFC 3339; when the terminal saw it happen (default: now). Read as text, so a number
    /// is refused in the API's words (`must be text (got 1765100000)`), not serde's.
    #[serde(default)]
    pub at: Option<ShortText>,
    #[serde(default)]
    pub note: Option<LongText>,
}

/// How far a reported time may lie ahead of this server's clock: terminals' clocks drift.
pub const CLOCK_SKEW: time::Duration = time::Duration::seconds(60);

/// What the floor reports with an action, checked.
#[derive(Debug, Clone)]
pub struct Report {
    pub operator: Option<String>,
    pub at: OffsetDateTime,
    /// Whether the client sent `at`, or it is the server's now.
    pub at_sent: bool,
    pub note: Option<String>,
}

impl Report {
    /// Checks a body against `now`: `at` is RFC 3339 and not in the future.
    pub fn from_body(body: ReportBody, now: OffsetDateTime) -> Result<Report, FieldError> {
        let at = match &body.at {
            None => now,
            Some(text) => parse_instant("at", text.as_str(), now)?,
        };
        Ok(Report {
            operator: body.operator.and_then(|o| o.into_given()),
            at,
            at_sent: body.at.is_some(),
            note: body.note.and_then(|n| n.into_given()),
        })
    }

    /// The report as it applies after the record's previous transition. A sent `at` before
    /// it is refused: time entries would run backwards
    /// (`floor::a_report_before_the_previous_transition_is_refused`). Without `at`, a
    /// previous transition ahead of this server's clock (a terminal whose clock runs fast, by
    /// up to [`CLOCK_SKEW`]) dates this one at the same time: refusing it named a field the
    /// client never sent and locked every other terminal out of the record for up to a
    /// minute (`floor::an_action_after_one_dated_ahead_is_taken`).
    pub fn after(&self, previous: Option<OffsetDateTime>) -> Result<Report, FieldError> {
        match previous {
            Some(previous) if self.at < previous && self.at_sent => Err(FieldError::new(
                "at",
                format!(
                    "is before the previous transition at {}",
                    crate::store::timestamp_of(previous)
                ),
            )),
            Some(previous) if self.at < previous => Ok(Report {
                at: previous,
                ..self.clone()
            }),
            _ => Ok(self.clone()),
        }
    }
}

/// An RFC 3339 instant a client sent in `field`, not later than `now` (with [`CLOCK_SKEW`]).
pub fn parse_instant(
    field: &str,
    text: &str,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, FieldError> {
    let at = super::instant::parse(field, text)?;
    // A terminal whose clock was never set sends 1970 or year 1: such a time would make
    // every duration decades long (`tests::times_before_2000_are_refused`).
    if at < EARLIEST {
        return Err(FieldError::new(
            field,
            format!(
                "is before 2000 ({text}); check the terminal's clock and send when it happened"
            ),
        ));
    }
    if at > now + CLOCK_SKEW {
        return Err(FieldError::new(
            field,
            format!("is in the future ({text}); send when it happened"),
        ));
    }
    Ok(at)
}

/// The earliest time the floor may report.
const EARLIEST: OffsetDateTime = time::macros::datetime!(2000-01-01 00:00 UTC);

/// Whole minutes in `seconds` of work, rounded to the nearest minute.
pub fn minutes(seconds: i64) -> i64 {
    (seconds.max(0) + 30) / 60
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use WorkStatus::*;

    #[test]
    fn times_before_2000_are_refused() {
        let now = datetime!(2026-12-07 12:00 UTC);
        for old in [
            "0001-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "1999-12-31T23:59:59Z",
        ] {
            let error = parse_instant("at", old, now).unwrap_err();
            assert!(error.message.contains("before 2000"), "{old}: {error:?}");
        }
        assert!(parse_instant("at", "2000-01-01T00:00:00Z", now).is_ok());
    }

    #[test]
    fn operations_follow_their_machine() {
        let op = Machine::Operation;
        assert_eq!(op.next(NotStarted, Action::Start), Ok(InProgress));
        assert_eq!(op.next(InProgress, Action::Hold), Ok(OnHold));
        assert_eq!(op.next(OnHold, Action::Resume), Ok(InProgress));
        assert_eq!(op.next(InProgress, Action::Complete), Ok(Completed));
        assert_eq!(op.next(OnHold, Action::Start), Ok(InProgress));
        assert!(op.next(NotStarted, Action::Complete).is_err());
        assert!(op.next(Completed, Action::Resume).is_err());
    }

    #[test]
    fn jobs_may_start_again_from_hold() {
        let job = Machine::Job;
        assert_eq!(job.next(OnHold, Action::Start), Ok(InProgress));
        assert_eq!(job.action("stop"), Ok(Action::Hold));
        assert!(job.action("pause").is_err());
        assert_eq!(job.event_type(Action::Hold), "job.stopped");
    }

    #[test]
    fn refusals_name_the_status_and_what_it_allows() {
        let error = Machine::Operation
            .next(NotStarted, Action::Complete)
            .unwrap_err();
        assert_eq!(
            error.message,
            "cannot complete operation with status 'not_started'; allowed: start"
        );
        let error = Machine::Operation
            .next(InProgress, Action::Start)
            .unwrap_err();
        assert!(
            error.message.ends_with("allowed: pause, complete"),
            "{error:?}"
        );
        let error = Machine::Job.next(Completed, Action::Start).unwrap_err();
        assert!(error.message.contains("it is final"), "{error:?}");
        let error = Machine::Operation.action("finish").unwrap_err();
        assert!(error.message.contains("start, pause, resume, complete"));
    }

    #[test]
    fn reported_times_are_checked() {
        let now = datetime!(2026-01-15 10:00 UTC);
        let body = |at: &str| ReportBody {
            at: Some(at.to_owned().try_into().unwrap()),
            ..ReportBody::default()
        };
        let report = Report::from_body(body("2026-01-15T11:30:00+02:00"), now).unwrap();
        assert_eq!(report.at, datetime!(2026-01-15 09:30 UTC));
        assert!(Report::from_body(body("2026-01-15T10:00:30Z"), now).is_ok());
        let future = Report::from_body(body("2026-01-15T11:00:00Z"), now).unwrap_err();
        assert!(future.message.contains("future"), "{future:?}");
        let bad = Report::from_body(body("yesterday"), now).unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("at"));
        assert!(report.after(Some(now)).is_err());
        assert!(report.after(Some(datetime!(2026-01-15 09:00 UTC))).is_ok());
        // Without `at`, a previous transition dated ahead dates this one with it.
        let unsent = Report::from_body(ReportBody::default(), now).unwrap();
        let ahead = datetime!(2026-01-15 10:00:30 UTC);
        assert_eq!(unsent.after(Some(ahead)).unwrap().at, ahead);
        assert_eq!(unsent.after(None).unwrap().at, now);
    }

    #[test]
    fn minutes_round_to_the_nearest() {
        assert_eq!(minutes(0), 0);
        assert_eq!(minutes(29), 0);
        assert_eq!(minutes(30), 1);
        assert_eq!(minutes(3600), 60);
    }
}
