//! Properties of the shop floor writing back between syncs: lifecycle actions on operations
//! and jobs, quantity reports and deletes, interleaved with the random syncs of `sent.rs`, on
//! the real stores. The model (`floor_model.rs`, `floor_steps.rs`) says what each answer is,
//! what the store holds and shows of the floor's progress, and which events each step writes.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use time::OffsetDateTime;

use crate::engines::Engine;
use crate::floor_model::all_shown;
use crate::floor_steps::{floor_step, FloorStep};
use crate::floor_store::{operation_ids, shown_of};
use crate::model::Model;
use crate::sent::{steps, Step};
use crate::store::{fate, same_state, state_of, Harness};
use crate::{check_with, config_of, on_every_engine};

/// Cases of a floor property: each runs twice as many steps as a sync property's, each step
/// read back whole with its events.
const CASES: u32 = 192;

/// After a step: the store holds the model's records, shows the model's progress of the floor
/// on each, and wrote exactly the step's events; the model learns the ids of new operations.
fn holds_the_model(
    harness: &Harness,
    scope: eryxon::domain::Scope,
    model: &mut Model,
    cursor: &mut Option<i64>,
    what: &str,
) -> Result<(), TestCaseError> {
    let snapshot = harness.snapshot(scope);
    same_state(&state_of(&snapshot), &model.state)?;
    model.floor.ids = operation_ids(&snapshot);
    let (stored, expected) = (shown_of(&snapshot), all_shown(&model.state, &model.floor));
    for (key, shown) in &expected {
        prop_assert_eq!(stored.get(key), Some(shown), "{}: {:?} progress", what, key);
    }
    let (events, next) = harness.events_after(scope, *cursor);
    *cursor = Some(next);
    prop_assert_eq!(events, model.floor.step_events(), "{}: events", what);
    Ok(())
}

fn sync(
    harness: &Harness,
    scope: eryxon::domain::Scope,
    model: &mut Model,
    cursor: &mut Option<i64>,
    (n, step): (usize, &Step),
) -> Result<(), TestCaseError> {
    let answers = harness.bulk(scope, step)?;
    let expected = model.sync(step);
    for (i, (answer, expected)) in answers.iter().zip(&expected).enumerate() {
        prop_assert_eq!(&fate(answer), expected, "step {} record {}", n, i);
    }
    holds_the_model(harness, scope, model, cursor, &format!("step {n}"))
}

fn act(
    harness: &Harness,
    scope: eryxon::domain::Scope,
    model: &mut Model,
    cursor: &mut Option<i64>,
    step: &FloorStep,
) -> Result<(), TestCaseError> {
    let step = &model.aim(step);
    let expected = model.act(step);
    let answer = harness.act(scope, &step.act, model.floor.clock);
    prop_assert_eq!(answer, expected, "{:?}", step);
    holds_the_model(harness, scope, model, cursor, &format!("{step:?}"))
}

/// The floor's actions between syncs (operations started, paused, resumed and completed,
/// jobs' own lifecycle, quantity reports, deletes), then the first jobs request sent again:
///
/// - each action, report and delete is answered as the model says: the transition made, or
///   refused as the status does not allow it; a delete of what the floor worked on (or of a
///   job or part holding it) refused naming those records;
/// - each sync is answered as the model says: a record the floor worked on keeps its status,
///   answers `kept` when sent another, and is `unchanged` when that was its only difference; a
///   `children=replace` that would delete what the floor worked on is refused whole, nothing
///   of that job written; a part listed whose status or totals followed its operations is
///   answered changed;
/// - after every step the store holds the model's records (statuses included: a part the
///   floor worked on completes with its last open operation, opens again when given one),
///   shows the floor's progress on each (lifecycle times, actual minutes, completion,
///   produced totals, a part's good units those of its last operation), and has written
///   exactly the step's events: one per record created, restored, updated or deleted, the
///   floor's own, none for what was unchanged or refused.
fn the_floor_owns_its_progress(engine: Engine) {
    let case = (
        steps(),
        // Mostly after the first jobs are synced, so that there is something to work on.
        proptest::collection::vec(
            (prop_oneof![1 => 0..2usize, 6 => 2..9usize], floor_step()),
            4..=16,
        ),
    );
    check_with(engine, config_of(CASES), case, |harness, (steps, floor)| {
        let scope = harness.scope();
        let mut model = Model::default();
        // A week ago: the floor's times may not lie ahead of the server's clock.
        model.floor.clock = OffsetDateTime::now_utc().unix_timestamp() - 7 * 24 * 3600;
        let mut cursor = None;
        let last = steps.len();
        for n in 0..=last {
            let now = |at: &usize| *at == n || (n == last && *at > last);
            for (_, step) in floor.iter().filter(|(at, _)| now(at)) {
                act(harness, scope, &mut model, &mut cursor, step)?;
            }
            if let Some(step) = steps.get(n) {
                sync(harness, scope, &mut model, &mut cursor, (n, step))?;
            }
        }
        // The nightly export again, whatever the floor did since.
        sync(harness, scope, &mut model, &mut cursor, (last, &steps[1]))
    });
}

on_every_engine!(
    blocking:
    the_floor_owns_its_progress,
);
