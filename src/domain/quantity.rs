//! Produced quantities: what a terminal reports an operation made (good, scrap, rework), checked
//! once into a [`NewReport`], and a report as stored. No I/O.
//!
//! A terminal retries: a report carries its own `client_event_id`, and the same id again is the
//! same report, answered with the first one and counted once; the same id with a different
//! report is refused ([`NewReport::differences`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::decode::FieldError;
use super::floor::parse_instant;
use super::progress::OperationProgress;
use super::value::{LongText, Name, NonNegative, ShortText, Source, Text};
use crate::store::{timestamp_of, RecordRef};

/// A terminal's id of one report, unique per tenant and mode.
pub type ClientEventId = Text<1, 200>;

/// `POST /api-operation-quantities`, as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantityBody {
    /// Read as text, so another kind is refused in the API's words (`must be text (got 5)`),
    /// as every field of the body is.
    #[serde(default, deserialize_with = "super::expect::optional_text")]
    pub operation_id: Option<String>,
    #[serde(default)]
    pub external_source: Option<Source>,
    #[serde(default)]
    pub external_id: Option<Name>,
    #[serde(default)]
    pub good: Option<NonNegative>,
    #[serde(default)]
    pub scrap: Option<NonNegative>,
    #[serde(default)]
    pub rework: Option<NonNegative>,
    #[serde(default)]
    pub scrap_reason: Option<LongText>,
    #[serde(default)]
    pub material_lot: Option<ShortText>,
    #[serde(default)]
    pub operator: Option<ShortText>,
    /// RFC 3339; when it was produced (default: now).
    #[serde(default)]
    pub recorded_at: Option<ShortText>,
    #[serde(default)]
    pub client_event_id: Option<ClientEventId>,
}

/// A report, checked: counts of at least one unit, a time not in the future.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub operation: RecordRef,
    pub good: i64,
    pub scrap: i64,
    pub rework: i64,
    pub scrap_reason: Option<String>,
    pub material_lot: Option<String>,
    pub operator: Option<String>,
    pub recorded_at: OffsetDateTime,
    /// Whether the terminal sent `recorded_at` (a retry without it takes the first one's).
    pub recorded_at_sent: bool,
    pub client_event_id: Option<String>,
}

fn count(value: Option<NonNegative>) -> i64 {
    value.map_or(0, NonNegative::get)
}

/// The operation a body names: its id, or its source and external id, exactly one of them.
fn operation_of(body: &mut QuantityBody) -> Result<RecordRef, FieldError> {
    let key = (body.external_source.take(), body.external_id.take());
    match (body.operation_id.take(), key) {
        (Some(_), (Some(_), _) | (_, Some(_))) => Err(FieldError::new(
            "operation_id",
            "send the operation's id or its external_source and external_id, not both",
        )),
        (Some(id), _) => Uuid::parse_str(&id).map(RecordRef::Id).map_err(|_| {
            FieldError::new(
                "operation_id",
                format!("must be a UUID such as 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b (got {id:?})"),
            )
        }),
        (None, (Some(source), Some(external_id))) => Ok(RecordRef::External {
            source: source.into_string(),
            external_id: external_id.into_string(),
        }),
        (None, (Some(_), None)) => Err(FieldError::new(
            "external_id",
            "is required with external_source: the operation's external id",
        )),
        (None, (None, Some(_))) => Err(FieldError::new(
            "external_source",
            "is required with external_id: the operation's ERP system",
        )),
        (None, (None, None)) => Err(FieldError::new(
            "operation_id",
            "is required: the operation's id, or its external_source and external_id",
        )),
    }
}

impl NewReport {
    /// Checks a body against `now`.
    pub fn from_body(mut body: QuantityBody, now: OffsetDateTime) -> Result<NewReport, FieldError> {
        let operation = operation_of(&mut body)?;
        let (good, scrap, rework) = (count(body.good), count(body.scrap), count(body.rework));
        if good + scrap + rework == 0 {
            return Err(FieldError::new(
                "good",
                "report at least one unit: good, scrap or rework must be more than 0",
            ));
        }
        let recorded_at = match &body.recorded_at {
            None => now,
            Some(text) => parse_instant("recorded_at", text.as_str(), now)?,
        };
        Ok(NewReport {
            operation,
            good,
            scrap,
            rework,
            scrap_reason: body.scrap_reason.and_then(|t| t.into_given()),
            material_lot: body.material_lot.and_then(|t| t.into_given()),
            operator: body.operator.and_then(|t| t.into_given()),
            recorded_at,
            recorded_at_sent: body.recorded_at.is_some(),
            client_event_id: body.client_event_id.map(|t| t.into_string()),
        })
    }

    /// The fields in which this report differs from `stored`, the report first sent with its
    /// `client_event_id`; `operation` is the id of the operation this one names.
    pub fn differences(&self, operation: Uuid, stored: &QuantityReport) -> Vec<&'static str> {
        let mut differ = Vec::new();
        if operation != stored.operation_id {
            differ.push(match self.operation {
                RecordRef::Id(_) => "operation_id",
                RecordRef::External { .. } => "external_id",
            });
        }
        let counts = [
            ("good", self.good, stored.good),
            ("scrap", self.scrap, stored.scrap),
            ("rework", self.rework, stored.rework),
        ];
        differ.extend(counts.iter().filter(|(_, a, b)| a != b).map(|(n, _, _)| *n));
        let texts = [
            ("scrap_reason", &self.scrap_reason, &stored.scrap_reason),
            ("material_lot", &self.material_lot, &stored.material_lot),
            ("operator", &self.operator, &stored.operator),
        ];
        differ.extend(texts.iter().filter(|(_, a, b)| a != b).map(|(n, _, _)| *n));
        if self.recorded_at_sent && timestamp_of(self.recorded_at) != stored.recorded_at {
            differ.push("recorded_at");
        }
        differ
    }
}

/// A report as stored and shown, with the key of its operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuantityReport {
    pub id: Uuid,
    pub operation_id: Uuid,
    pub external_source: String,
    pub external_id: String,
    pub good: i64,
    pub scrap: i64,
    pub rework: i64,
    pub scrap_reason: Option<String>,
    pub material_lot: Option<String>,
    pub operator: Option<String>,
    pub recorded_at: String,
    pub client_event_id: Option<String>,
    pub created_at: String,
}

/// A report accepted (or found again), with its operation and the operation's totals.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub report: QuantityReport,
    pub operation: OperationProgress,
}

/// How a report ended, short of a database failure.
#[derive(Debug)]
pub enum Reported {
    /// A new report, counted.
    Created(Box<Recorded>),
    /// Its `client_event_id` was sent before with the same report: that one, counted once.
    Replayed(Box<Recorded>),
    /// The `client_event_id` was sent before with a different report; these fields differ.
    Mismatch(Vec<&'static str>),
    /// No live operation of the tenant and mode has that id or key.
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn check(body: serde_json::Value) -> Result<NewReport, FieldError> {
        let body: QuantityBody = crate::domain::decode::decode(body.to_string().as_bytes())?;
        NewReport::from_body(body, datetime!(2026-01-15 10:00 UTC))
    }

    fn field(body: serde_json::Value) -> String {
        check(body).unwrap_err().field.unwrap()
    }

    #[test]
    fn reports_name_their_operation_once() {
        let id = Uuid::now_v7();
        let report = check(json!({"operation_id": id, "good": 5})).unwrap();
        assert!(matches!(report.operation, RecordRef::Id(found) if found == id));
        assert_eq!((report.good, report.scrap, report.rework), (5, 0, 0));
        assert!(!report.recorded_at_sent);
        let report = check(json!({"external_source": "SAP", "external_id": "O1", "scrap": 1}));
        assert!(matches!(
            report.unwrap().operation,
            RecordRef::External { .. }
        ));
        assert_eq!(field(json!({"good": 1})), "operation_id");
        assert_eq!(
            field(json!({"operation_id": "x", "good": 1})),
            "operation_id"
        );
        assert_eq!(
            field(json!({"external_source": "SAP", "good": 1})),
            "external_id"
        );
        assert_eq!(
            field(json!({"external_id": "O1", "good": 1})),
            "external_source"
        );
        let both = json!({"operation_id": id, "external_id": "O1", "good": 1});
        assert_eq!(field(both), "operation_id");
    }

    #[test]
    fn counts_and_times_are_checked() {
        let id = Uuid::now_v7();
        assert_eq!(field(json!({"operation_id": id})), "good");
        assert_eq!(
            field(json!({"operation_id": id, "good": 0, "scrap": 0})),
            "good"
        );
        assert_eq!(field(json!({"operation_id": id, "scrap": -1})), "scrap");
        assert_eq!(field(json!({"operation_id": id, "rework": 1.5})), "rework");
        let future = json!({"operation_id": id, "good": 1, "recorded_at": "2026-01-15T11:00:00Z"});
        assert_eq!(field(future), "recorded_at");
        let long = json!({"operation_id": id, "good": 1, "client_event_id": "x".repeat(201)});
        assert_eq!(field(long), "client_event_id");
        let unknown = json!({"operation_id": id, "good": 1, "goods": 2});
        assert_eq!(field(unknown), "goods");
        let sent =
            json!({"operation_id": id, "good": 1, "recorded_at": "2026-01-15T11:30:00+02:00"});
        let report = check(sent).unwrap();
        assert_eq!(report.recorded_at, datetime!(2026-01-15 09:30 UTC));
        assert!(report.recorded_at_sent);
    }

    #[test]
    fn a_retry_differs_only_where_it_says_otherwise() {
        let id = Uuid::now_v7();
        let first = check(json!({"operation_id": id, "good": 5, "scrap": 1,
            "operator": "ana", "recorded_at": "2026-01-15T09:00:00Z"}))
        .unwrap();
        let stored = QuantityReport {
            id: Uuid::now_v7(),
            operation_id: id,
            external_source: "SAP".into(),
            external_id: "O1".into(),
            good: 5,
            scrap: 1,
            rework: 0,
            scrap_reason: None,
            material_lot: None,
            operator: Some("ana".into()),
            recorded_at: "2026-01-15T09:00:00.000000Z".into(),
            client_event_id: Some("e-1".into()),
            created_at: "2026-01-15T09:00:01.000000Z".into(),
        };
        assert!(first.differences(id, &stored).is_empty());
        let mut retry = first.clone();
        retry.recorded_at_sent = false;
        retry.recorded_at = datetime!(2026-01-15 09:59 UTC);
        assert!(retry.differences(id, &stored).is_empty());
        retry.good = 6;
        retry.operator = None;
        assert_eq!(retry.differences(id, &stored), ["good", "operator"]);
        assert_eq!(first.differences(Uuid::now_v7(), &stored), ["operation_id"]);
    }
}
