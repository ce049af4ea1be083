//! What a sync's answer and events say of the parts that followed their operations in it
//! (their totals summed again, their status completed or opened again): the answer and the
//! history show them changed, a `kept` note on their status names the status they ended with,
//! and a part the sync wrote says both changes in one event.

use std::collections::HashMap;

use uuid::Uuid;

use super::part_state::Resummed;
use crate::domain::event::NewEvent;
use crate::domain::outcome::{Change, Kept, RecordResult};
use crate::domain::view::with_field;

/// The parts whose stored values a sync changed by their operations, with the status a
/// transition gave them.
#[derive(Default)]
pub(crate) struct Followed(HashMap<Uuid, Option<String>>);

impl Followed {
    /// A part whose totals changed. If the sync wrote the part too, its event says both,
    /// carrying the part as it is after the call: it had a `part.updated` showing the totals
    /// before, then another (`quantities::a_part_says_when_its_totals_change`). Any other part
    /// gets the totals' own event.
    pub fn totals(&mut self, events: &mut Vec<NewEvent>, resummed: Resummed) {
        let id = resummed.view.id;
        self.0.entry(id).or_default();
        let written = events.iter_mut().find(|e| {
            e.record_id == Some(id)
                && matches!(
                    e.event_type.as_str(),
                    "part.created" | "part.restored" | "part.updated"
                )
        });
        let Some(event) = written else {
            events.push(resummed.event());
            return;
        };
        if event.event_type != "part.updated" {
            event.data = resummed.view.get().to_owned();
            return;
        }
        #[derive(serde::Deserialize)]
        struct Changed {
            changed_fields: Vec<String>,
        }
        let mut changed = serde_json::from_str::<Changed>(&event.data)
            .map(|c| c.changed_fields)
            .unwrap_or_default();
        for field in resummed.changed {
            if !changed.iter().any(|c| c == field) {
                changed.push(field.to_owned());
            }
        }
        event.data = with_field(resummed.view.get(), "changed_fields", &changed);
    }

    /// A part whose status a transition changed (its event carries `new_status`).
    pub fn status(&mut self, part: Uuid, event: &NewEvent) {
        #[derive(serde::Deserialize)]
        struct Transition {
            new_status: String,
        }
        let status = serde_json::from_str::<Transition>(&event.data).ok();
        *self.0.entry(part).or_default() = status.map(|t| t.new_status);
    }

    /// The answer shows a part that followed its operations as changed (it said `unchanged`
    /// while its totals changed), and its `kept` status note the status it ended with (it said
    /// it stays `in_progress` of a part the same call completed)
    /// (`floor_records::a_sync_answers_what_its_parts_became`,
    /// `floor_records::a_replace_leaving_only_completed_operations_completes_the_part`).
    pub fn settle(&self, results: &mut [RecordResult]) {
        if self.0.is_empty() {
            return;
        }
        for result in results.iter_mut() {
            let Ok(synced) = &mut result.outcome else {
                continue;
            };
            synced.each_mut(&mut |s| {
                let Some(status) = self.0.get(&s.id) else {
                    return;
                };
                if s.change == Change::Unchanged {
                    s.change = Change::Updated;
                }
                if let Some(status) = status {
                    for kept in s.kept.iter_mut().filter(|k| k.field == "status") {
                        *kept = Kept::followed("status", status);
                    }
                }
            });
            // A job whose part changed so changed too, as when the sync wrote the part
            // (property `shop_floor::the_floor_owns_its_progress`).
            synced.roll_up();
        }
    }
}
