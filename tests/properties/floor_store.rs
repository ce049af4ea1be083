//! The floor's steps on the real store, through the store API the floor's routes call, and
//! what the store shows of the floor and has written to the event log, in the model's terms.

use std::collections::BTreeMap;

use eryxon::domain::floor::{Machine, Report};
use eryxon::domain::quantity::{NewReport, Reported};
use eryxon::domain::Scope;
use eryxon::store::{Acted, Deletion, Feed, FeedQuery, RecordRef};
use serde_json::json;
use time::OffsetDateTime;

use crate::floor_model::Shown;
use crate::floor_steps::{Act, Answer};
use crate::model::text;
use crate::sent::Table;
use crate::store::{Harness, Snapshot};
use crate::SOURCE;

fn by_key(external_id: &str) -> RecordRef {
    RecordRef::External {
        source: SOURCE.to_owned(),
        external_id: external_id.to_owned(),
    }
}

fn instant(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).expect("a time of the case's clock")
}

impl Harness {
    /// A floor step at `at` (Unix seconds), as the floor's routes run it.
    pub fn act(&self, scope: Scope, act: &Act, at: i64) -> Answer {
        let report = Report {
            operator: None,
            at: instant(at),
            at_sent: true,
            note: None,
        };
        let transition = |machine, id: &str, action| {
            let acted = self.runtime.block_on(self.store.transition(
                scope,
                machine,
                &by_key(id),
                action,
                &report,
            ));
            match acted.expect("the store answers") {
                Acted::Done(t) => Answer::Moved(t.previous_status, t.new_status),
                Acted::NotFound => Answer::NotFound,
                Acted::Refused(_) => Answer::Refused,
                Acted::TooEarly(e) => panic!("the case's clock runs forward: {e:?}"),
            }
        };
        match act {
            Act::Operation(id, action) => transition(Machine::Operation, id, *action),
            Act::Job(id, action) => transition(Machine::Job, id, *action),
            Act::Report(id, [good, scrap, rework]) => {
                let report = NewReport {
                    operation: by_key(id),
                    good: *good,
                    scrap: *scrap,
                    rework: *rework,
                    scrap_reason: None,
                    material_lot: None,
                    operator: None,
                    recorded_at: instant(at),
                    recorded_at_sent: true,
                    client_event_id: None,
                };
                let reported = self
                    .runtime
                    .block_on(self.store.report_quantity(scope, &report));
                match reported.expect("the store answers") {
                    Reported::Created(_) => Answer::Reported,
                    Reported::NotFound => Answer::NotFound,
                    other => panic!("a report without a client_event_id: {other:?}"),
                }
            }
            Act::Delete(table, id) => {
                let deletion =
                    self.runtime
                        .block_on(self.store.delete(scope, table.entity(), &by_key(id)));
                match deletion.expect("the store answers") {
                    Deletion::Deleted {
                        parts, operations, ..
                    } => Answer::Deleted { parts, operations },
                    Deletion::FloorWorked { mut records } => {
                        records.sort();
                        Answer::Worked(records)
                    }
                    Deletion::NotFound => Answer::NotFound,
                    Deletion::InUse { .. } => panic!("no cell is deleted"),
                }
            }
        }
    }

    /// The events written after position `after` (all, for `None`), as (type, external id),
    /// sorted, and the position to read after next.
    pub fn events_after(&self, scope: Scope, after: Option<i64>) -> (Vec<(String, String)>, i64) {
        let mut events = Vec::new();
        let mut after = after;
        loop {
            let query = FeedQuery {
                after,
                limit: 1000,
                ..FeedQuery::default()
            };
            let feed = self.runtime.block_on(self.store.events(scope, &query));
            let Feed::Page {
                events: page,
                next,
                has_more,
                ..
            } = feed.expect("the store answers")
            else {
                panic!("the log of a fresh tenant is whole");
            };
            events.extend(
                page.into_iter()
                    .map(|e| (e.event_type, e.external_id.unwrap_or_default())),
            );
            after = Some(next);
            if !has_more {
                events.sort();
                return (events, next);
            }
        }
    }
}

/// The ids of the operations, by external id: the model orders a part's operations of one
/// sequence by them, as the store does.
pub fn operation_ids(snapshot: &Snapshot) -> BTreeMap<String, String> {
    snapshot[&Table::Operations]
        .iter()
        .map(|o| (text(o, "external_id"), text(o, "id")))
        .collect()
}

/// The floor's columns of every job, part and operation, as `floor_model::shown` holds them.
pub fn shown_of(snapshot: &Snapshot) -> Shown {
    let mut shown = Shown::new();
    for table in [Table::Jobs, Table::Parts, Table::Operations] {
        for record in &snapshot[&table] {
            let columns = table
                .entity()
                .read_only_columns()
                .iter()
                .filter(|column| {
                    // As `floor_model::shown`: a deleted part's totals are not compared.
                    let deleted = !record["deleted_at"].is_null();
                    !(table == Table::Parts && deleted && column.name.starts_with("quantity_"))
                })
                .map(|column| {
                    let value = &record[column.name];
                    let value = match (table, value.as_str()) {
                        (Table::Parts, _) if column.name == "completed_at" => {
                            json!(!value.is_null())
                        }
                        (_, Some(time)) => json!(unix(time)),
                        _ => value.clone(),
                    };
                    (column.name, value)
                })
                .collect();
            shown.insert((table, text(record, "external_id")), columns);
        }
    }
    shown
}

fn unix(time: &str) -> i64 {
    let format = time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(time, &format)
        .unwrap_or_else(|e| panic!("{time}: {e}"))
        .unix_timestamp()
}
