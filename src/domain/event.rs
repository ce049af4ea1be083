//! The event log: what happened to the tenant's records, in the order it was committed. Every
//! change writes its events in the transaction that makes it; the feed and the webhooks read
//! them from there. No I/O.

use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::decode::FieldError;
use super::Entity;

/// Record kinds whose syncs and deletions write `{kind}.{created,updated,deleted,restored}`.
const RECORD_KINDS: [&str; 5] = ["job", "part", "operation", "cell", "resource"];
const RECORD_CHANGES: [&str; 4] = ["created", "updated", "deleted", "restored"];
/// Events the floor's actions write.
const FLOOR_TYPES: [&str; 11] = [
    "job.started",
    "job.stopped",
    "job.resumed",
    "job.completed",
    "operation.started",
    "operation.paused",
    "operation.resumed",
    "operation.completed",
    "part.started",
    "part.completed",
    "production.quantity_reported",
];
/// `webhook.endpoint_disabled`: the server stopped sending to an endpoint (it answered 410, or
/// only failed for days), so another endpoint or a feed reader can alert.
const OTHER_TYPES: [&str; 2] = ["sync.completed", "webhook.endpoint_disabled"];

/// Types of Eryxon's own MES that this server never writes: a connector written for Eryxon
/// subscribes to them beside the ones it does write, and must not be refused for it
/// (`webhooks_rules::eryxons_other_event_types_are_accepted`). A filter naming them matches
/// nothing.
const ERYXON_ONLY_TYPES: [&str; 7] = [
    "batch.started",
    "batch.completed",
    "issue.created",
    "ncr.created",
    "ncr.verified",
    "step.added",
    "step.completed",
];

/// Every event type the log writes, for validation and documentation.
pub fn all_types() -> Vec<String> {
    let mut types: Vec<String> = RECORD_KINDS
        .iter()
        .flat_map(|kind| RECORD_CHANGES.iter().map(move |c| format!("{kind}.{c}")))
        .collect();
    types.extend(FLOOR_TYPES.iter().map(|t| (*t).to_owned()));
    types.extend(OTHER_TYPES.iter().map(|t| (*t).to_owned()));
    types
}

/// The singular noun events use for an entity (`job`, `cell`).
pub fn kind_of(entity: Entity) -> &'static str {
    match entity {
        Entity::Jobs => "job",
        Entity::Parts => "part",
        Entity::Operations => "operation",
        Entity::Cells => "cell",
        Entity::Resources => "resource",
    }
}

/// A set of event types a reader asks for: exact names and `prefix.*` wildcards.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeFilter {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl TypeFilter {
    /// Parses `job.*,operation.completed`; an unknown type or an empty item is refused, naming
    /// the field (`events::unknown_event_types_are_refused`).
    pub fn parse(field: &str, text: &str) -> Result<TypeFilter, FieldError> {
        let mut known = all_types();
        known.extend(ERYXON_ONLY_TYPES.iter().map(|t| (*t).to_owned()));
        let mut filter = TypeFilter::default();
        for item in text.split(',').map(str::trim) {
            if let Some(prefix) = item.strip_suffix(".*") {
                let dotted = format!("{prefix}.");
                if prefix.is_empty() || !known.iter().any(|t| t.starts_with(&dotted)) {
                    return Err(unknown(field, item));
                }
                filter.prefixes.push(dotted);
            } else if item == "*" {
                filter.prefixes.push(String::new());
            } else if known.iter().any(|t| t == item) {
                filter.exact.push(item.to_owned());
            } else {
                return Err(unknown(field, item));
            }
        }
        Ok(filter)
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    pub fn matches(&self, event_type: &str) -> bool {
        self.is_empty()
            || self.exact.iter().any(|t| t == event_type)
            || self.prefixes.iter().any(|p| event_type.starts_with(p))
    }

    /// Whether some event type matches both filters: an endpoint subscribed to
    /// `job.completed` is among those `?event_type=job.*` lists.
    pub fn overlaps(&self, other: &TypeFilter) -> bool {
        all_types()
            .iter()
            .map(String::as_str)
            .chain(ERYXON_ONLY_TYPES.iter().copied())
            .any(|t| self.matches(t) && other.matches(t))
    }

    /// Exact names and prefixes (without the `*`), for a store's query.
    pub fn parts(&self) -> (&[String], &[String]) {
        (&self.exact, &self.prefixes)
    }
}

fn unknown(field: &str, item: &str) -> FieldError {
    FieldError::new(
        field,
        format!(
            "unknown event type {item:?}; use names such as job.created or operation.completed, \
             or a kind with .* (job.*)"
        ),
    )
}

/// An event about to be written, in the transaction of its change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: String,
    pub entity: Option<&'static str>,
    pub record_id: Option<Uuid>,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    /// What the event says, as JSON text: the record as `GET` shows it after the change, a
    /// tombstone, or the call's summary.
    pub data: String,
}

impl NewEvent {
    /// `{kind}.deleted`: what is left of a deleted record, its ids.
    pub fn tombstone(
        entity: Entity,
        id: Uuid,
        external_source: String,
        external_id: String,
        deleted_at: &str,
    ) -> NewEvent {
        let kind = kind_of(entity);
        NewEvent {
            event_type: format!("{kind}.deleted"),
            entity: Some(kind),
            record_id: Some(id),
            data: serde_json::json!({
                "id": id,
                "external_source": external_source,
                "external_id": external_id,
                "deleted_at": deleted_at,
            })
            .to_string(),
            external_source: Some(external_source),
            external_id: Some(external_id),
        }
    }
}

/// An event as the log keeps it and the feed shows it.
#[derive(Debug, Serialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: String,
    pub entity: Option<String>,
    pub record_id: Option<Uuid>,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    pub data: Box<RawValue>,
    /// Its place in the tenant's log, which cursors name.
    #[serde(skip)]
    pub position: i64,
}

/// A new event id: `evt_` and a UUIDv7, so ids sort by time.
pub fn new_id() -> String {
    format!("evt_{}", Uuid::now_v7().simple())
}

/// A feed cursor without its check: the position alone (the console's links, which are read
/// at once by the page that made them).
pub fn encode_cursor(position: i64) -> String {
    Cursor {
        position,
        check: None,
    }
    .encode()
}

/// The position a cursor names, its check left unused; anything else is refused naming the
/// parameter.
pub fn decode_cursor(field: &str, text: &str) -> Result<i64, FieldError> {
    Cursor::decode(field, text).map(|cursor| cursor.position)
}

/// A feed cursor as `next_cursor` gives it out, opaque to clients: the position of the last
/// event a reader has seen (`c1234`), and the end of that event's id (`c1234.9f3a2b1c`). A
/// position alone fits any log that reached it: a database restored from a backup, once its
/// new events passed the position, took a reader's cursor from before the restore and
/// skipped every event up to it. The check tells that the event there is another
/// (`events::a_cursor_from_before_a_restore_is_refused`). Cursors without one (given out
/// before cursors had them, and the console's) are still read, unchecked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub position: i64,
    pub check: Option<String>,
}

/// Characters of an event id a cursor's check keeps: the last eight hex digits of its UUIDv7,
/// random bits.
const CHECK_LEN: usize = 8;

impl Cursor {
    /// The cursor after the event `id` at `position`, or after `position` alone when no event
    /// is there (nothing written yet, or pruned).
    pub fn after(position: i64, id: Option<&str>) -> Cursor {
        let check = id
            .filter(|id| id.len() >= CHECK_LEN && id.is_char_boundary(id.len() - CHECK_LEN))
            .map(|id| id[id.len() - CHECK_LEN..].to_owned());
        Cursor { position, check }
    }

    pub fn encode(&self) -> String {
        match &self.check {
            Some(check) => format!("c{}.{check}", self.position),
            None => format!("c{}", self.position),
        }
    }

    pub fn decode(field: &str, text: &str) -> Result<Cursor, FieldError> {
        let refused = || {
            FieldError::new(
                field,
                format!("is not a cursor this feed gave out (got {text:?}); pass next_cursor"),
            )
        };
        let body = text.strip_prefix('c').ok_or_else(refused)?;
        let (position, check) = match body.split_once('.') {
            Some((position, check)) => (position, Some(check)),
            None => (body, None),
        };
        let position = position
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(refused)?;
        let check = match check {
            Some(c) if c.len() == CHECK_LEN && c.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(c.to_ascii_lowercase())
            }
            Some(_) => return Err(refused()),
            None => None,
        };
        Ok(Cursor { position, check })
    }

    /// Whether the event `id` found at the cursor's position is the one it was given out
    /// after (a cursor without a check fits any).
    pub fn fits(&self, id: &str) -> bool {
        self.check
            .as_deref()
            .is_none_or(|check| id.ends_with(check))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_check_the_event_they_follow() {
        let id = new_id();
        let cursor = Cursor::after(41, Some(&id));
        let text = cursor.encode();
        assert_eq!(Cursor::decode("after", &text).unwrap(), cursor);
        assert!(cursor.fits(&id));
        assert!(
            !cursor.fits(&new_id()),
            "another event at the same position"
        );
        let bare = Cursor::decode("after", "c41").unwrap();
        assert_eq!(bare, Cursor::after(41, None));
        assert!(bare.fits(&id), "a cursor without its check fits any log");
        assert_eq!(bare.encode(), "c41");
        for wrong in [
            "41",
            "c-1",
            "cx",
            "c41.",
            "c41.xyz",
            "c41.0123456789",
            "c41.abcdefgz",
        ] {
            let error = Cursor::decode("after", wrong).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("after"), "{wrong}");
        }
    }

    #[test]
    fn filters_overlap_when_a_type_matches_both() {
        let subscribed = TypeFilter::parse("events", "job.completed").unwrap();
        let family = TypeFilter::parse("event_type", "job.*").unwrap();
        let other = TypeFilter::parse("event_type", "operation.*").unwrap();
        assert!(subscribed.overlaps(&family) && family.overlaps(&subscribed));
        assert!(!subscribed.overlaps(&other));
        assert!(TypeFilter::parse("e", "*").unwrap().overlaps(&other));
    }

    #[test]
    fn filters_take_names_and_wildcards() {
        let filter = TypeFilter::parse("types", "job.*, operation.completed").unwrap();
        assert!(filter.matches("job.created"));
        assert!(filter.matches("operation.completed"));
        assert!(!filter.matches("operation.started"));
        assert!(!filter.matches("jobs.created"));
        assert!(TypeFilter::default().matches("anything"));
        let error = TypeFilter::parse("types", "job.finished").unwrap_err();
        assert_eq!(error.field.as_deref(), Some("types"));
        assert!(TypeFilter::parse("types", "nope.*").is_err());
        assert!(TypeFilter::parse("types", "job.*,").is_err());
    }

    #[test]
    fn every_type_is_listed_once() {
        let types = all_types();
        let mut unique = types.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), types.len());
        assert!(types.iter().any(|t| t == "production.quantity_reported"));
    }

    #[test]
    fn cursors_round_trip_and_refuse_strangers() {
        assert_eq!(decode_cursor("after", &encode_cursor(42)), Ok(42));
        assert!(decode_cursor("after", "42").is_err());
        assert!(decode_cursor("after", "c-1").is_err());
    }
}
