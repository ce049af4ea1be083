//! Property tests of the sync rules on the real stores, SQLite and PostgreSQL.
//!
//! A case is a sequence of bulk syncs over a small key space: cells, jobs with nested parts and
//! operations (cell references by name, `children` merge or replace), and flat parts and
//! operations synced by parent reference. Fields are left out, null or set; now and then one
//! value is made invalid. Which fields each entity has, their defaults, and the values valid
//! and invalid sent for them come from the server's declaration (`declared.rs`); an in-test
//! model, written from the documented rules and sharing no other code with the server, says
//! what each record's answer is and what the store holds after.
//!
//! Every property runs once per engine, on one database per property and a fresh tenant per
//! case. The PostgreSQL ones are ignored by plain `cargo test`; `scripts/test.sh` runs them on
//! the server it starts (see `on_every_engine!`). `PROPTEST_CASES` overrides the number of
//! cases.

use std::collections::BTreeSet;
use std::fmt;

use eryxon::domain::outcome::Change;
use eryxon::domain::Scope;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

mod declared;
#[path = "../support/engines.rs"]
mod engines;
mod floor_model;
mod floor_steps;
mod floor_store;
mod invalid;
mod model;
mod sent;
mod shop_floor;
mod store;

use engines::Engine;
use model::{keys_of, replaces, Fate, Model, Tree};
use sent::{outside, steps, Sent, Step, Table};
use store::{fate, same_state, Harness};

/// The source every record of a case is synced from.
const SOURCE: &str = "ERP";

fn config() -> Config {
    config_of(128)
}

/// `cases` cases, unless `PROPTEST_CASES` says how many.
fn config_of(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        // A failure shrinks for at most about a minute.
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs a property on one engine's store, failing with the shrunk case.
fn check<S: Strategy>(
    engine: Engine,
    strategy: S,
    property: impl Fn(&Harness, S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: fmt::Debug,
{
    check_with(engine, config(), strategy, property);
}

/// `check` with a property's own configuration.
fn check_with<S: Strategy>(
    engine: Engine,
    config: Config,
    strategy: S,
    property: impl Fn(&Harness, S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: fmt::Debug,
{
    let harness = Harness::open(engine);
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config);
    if let Err(error) = runner.run(&strategy, |case| property(&harness, case)) {
        panic!("{engine:?}: {error}");
    }
    eprintln!("{engine:?}: {:.1?}", started.elapsed());
}

/// Syncs step `n`, checking each answer against the model's and the stored state against the
/// model's after it.
fn follows_the_model(
    harness: &Harness,
    scope: Scope,
    model: &mut Model,
    n: usize,
    step: &Step,
) -> Result<(), TestCaseError> {
    let answers = harness.bulk(scope, step)?;
    let expected = model.sync(step);
    for (i, (answer, expected)) in answers.iter().zip(&expected).enumerate() {
        prop_assert_eq!(&fate(answer), expected, "step {} record {}", n, i);
    }
    same_state(&harness.state(scope), &model.state)
}

/// Each answer is the model's, and after each sync the store holds the model's state: every
/// field the last accepted writer's (absent keeps, null resets), parts under the job that last
/// sent them, operations under their part and in the cell their name resolved to, replaced
/// children deleted.
fn syncs_follow_the_model(engine: Engine) {
    check(engine, steps(), |harness, steps| {
        let scope = harness.scope();
        let mut model = Model::default();
        for (n, step) in steps.iter().enumerate() {
            follows_the_model(harness, scope, &mut model, n, step)?;
        }
        Ok(())
    });
}

/// Writes the server does not make between syncs — another program editing a job in the
/// database, a job deleted through the API — are seen by the syncs after them: each answer is
/// still the model's and the store holds the model's state (an edited field a sync sends is
/// put back, a deleted job sent again comes back), whatever the server remembered of the rows
/// it wrote before.
fn outside_writes_are_seen_by_later_syncs(engine: Engine) {
    let case = (
        steps(),
        proptest::collection::vec((0..8usize, outside()), 1..=4),
    );
    check(engine, case, |harness, (steps, outside)| {
        let scope = harness.scope();
        let mut model = Model::default();
        for (n, step) in steps.iter().enumerate() {
            for (_, write) in outside.iter().filter(|(at, _)| *at == n) {
                harness.outside(scope, write);
                model.outside(write);
            }
            follows_the_model(harness, scope, &mut model, n, step)?;
        }
        Ok(())
    });
}

/// Sending the last request again writes nothing (every stored byte stays, timestamps
/// included), answers every accepted record and all its children unchanged, and refuses the
/// refused ones the same way.
fn a_resend_changes_nothing(engine: Engine) {
    check(engine, steps(), |harness, steps| {
        let scope = harness.scope();
        let mut first = Vec::new();
        for step in &steps {
            first = harness.bulk(scope, step)?;
        }
        let before = harness.snapshot(scope);
        let again = harness.bulk(scope, steps.last().unwrap())?;
        for (first, again) in first.iter().zip(&again) {
            match (&first.outcome, &again.outcome) {
                (Ok(_), Ok(_)) => match fate(again) {
                    Fate::Synced(tree) => prop_assert!(tree.all_unchanged(), "{:?}", tree),
                    Fate::Rejected(..) => unreachable!(),
                },
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "{:?} then {:?}", a, b),
            }
        }
        prop_assert_eq!(harness.snapshot(scope), before);
        Ok(())
    });
}

/// A bulk request answers each record as a single sync of it would, sent one by one in the
/// same order, and leaves the same stored state.
///
/// Two kinds of record are left out of the request. One repeating an earlier record's key: a
/// bulk request refuses the repeat by design. One naming a child that an earlier job of the
/// request may delete in replace mode: in one request the deletion comes after every write, so
/// the child is moved, where one by one it would be deleted, then restored.
fn bulk_equals_single_syncs(engine: Engine) {
    check(engine, steps(), |harness, mut steps| {
        let mut last = steps.pop().unwrap();
        let mut model = Model::default();
        for step in &steps {
            model.sync(step);
        }
        let (mut claimed, mut doomed) = (BTreeSet::new(), BTreeSet::new());
        let request = Step {
            records: Vec::new(),
            ..last.clone()
        };
        last.records.retain(|sent| {
            let keys: BTreeSet<_> = keys_of(request.table, &sent.json)
                .into_iter()
                .map(|(key, _)| key)
                .collect();
            let kept = keys.is_disjoint(&claimed) && keys.is_disjoint(&doomed);
            claimed.extend(keys);
            if request.table == Table::Jobs && replaces(&request, &sent.json) {
                doomed.extend(model.doomed_by(&sent.json));
            }
            kept
        });
        let (bulk, single) = (harness.scope(), harness.scope());
        for scope in [bulk, single] {
            for step in &steps {
                harness.bulk(scope, step)?;
            }
        }
        let in_bulk = harness.bulk(bulk, &last)?;
        for (sent, in_bulk) in last.records.iter().zip(&in_bulk) {
            let alone = harness.single(single, &last, &sent.json);
            prop_assert_eq!(fate(&alone), fate(in_bulk), "{}", sent.json);
            if let (Err(alone), Err(in_bulk)) = (&alone.outcome, &in_bulk.outcome) {
                prop_assert_eq!(&alone.message, &in_bulk.message);
            }
        }
        same_state(&harness.state(bulk), &harness.state(single))
    });
}

/// Any sequence of requests of any entity: one result per record, in input order, each naming
/// its record, and counts that are those of the records sent and of their results (checked
/// inside every bulk sync).
fn answers_keep_input_order_and_add_up(engine: Engine) {
    check(engine, steps(), |harness, steps| {
        let scope = harness.scope();
        for step in &steps {
            harness.bulk(scope, step)?;
        }
        Ok(())
    });
}

/// The case `bulk_equals_single_syncs` leaves out, as it first shrank: a job replacing its
/// children with `"parts": []` leaves out part P3 (with operation O4), and a later job of the same request lists O4
/// under its own part. In one request O4 moves and only P3 is deleted; sent one by one, the
/// first sync deletes P3 with O4 and the second restores O4.
fn a_replace_deletes_after_the_requests_writes(engine: Engine) {
    let harness = Harness::open(engine);
    let step = |children, records: Vec<Value>| Step {
        table: Table::Jobs,
        children,
        records: records
            .into_iter()
            .map(|json| Sent {
                json,
                invalid: None,
            })
            .collect(),
    };
    let cells = Step {
        table: Table::Cells,
        ..step(
            None,
            vec![json!({"external_id": "C1", "external_source": SOURCE, "name": "Cut"})],
        )
    };
    let operation = json!({"external_id": "O4", "operation_name": "Saw", "cell_name": "Cut"});
    let before = step(
        None,
        vec![
            json!({"external_id": "J2", "external_source": SOURCE, "job_number": "1",
                   "parts": [{"external_id": "P3", "part_number": "A", "operations": [operation]}]}),
            json!({"external_id": "J1", "external_source": SOURCE, "job_number": "1"}),
        ],
    );
    let request = step(
        None,
        vec![
            json!({"external_id": "J2", "external_source": SOURCE, "job_number": "1",
                   "children": "replace", "parts": []}),
            json!({"external_id": "J1", "external_source": SOURCE, "job_number": "1",
                   "parts": [{"external_id": "P1", "part_number": "A", "operations": [operation]}]}),
        ],
    );
    let tree = |id: &str, change, children| Tree {
        external_id: id.into(),
        change,
        children,
        kept: Vec::new(),
    };
    let leaf = |id: &str, change| Tree::leaf(id, change);
    let (bulk, single) = (harness.scope(), harness.scope());
    for scope in [bulk, single] {
        harness.bulk(scope, &cells).unwrap();
        harness.bulk(scope, &before).unwrap();
    }

    let in_bulk: Vec<Fate> = harness
        .bulk(bulk, &request)
        .unwrap()
        .iter()
        .map(fate)
        .collect();
    let moved = tree(
        "J1",
        Change::Updated,
        vec![tree(
            "P1",
            Change::Created,
            vec![leaf("O4", Change::Updated)],
        )],
    );
    assert_eq!(
        in_bulk,
        [
            Fate::Synced(tree(
                "J2",
                Change::Updated,
                vec![leaf("P3", Change::Deleted)]
            )),
            Fate::Synced(moved),
        ]
    );
    let mut model = Model::default();
    for step in [&cells, &before, &request] {
        model.sync(step);
    }
    same_state(&harness.state(bulk), &model.state).unwrap();

    let one_by_one: Vec<Fate> = request
        .records
        .iter()
        .map(|sent| fate(&harness.single(single, &request, &sent.json)))
        .collect();
    let restored = tree(
        "J1",
        Change::Updated,
        vec![tree(
            "P1",
            Change::Created,
            vec![leaf("O4", Change::Created)],
        )],
    );
    assert_eq!(
        one_by_one,
        [
            Fate::Synced(tree(
                "J2",
                Change::Updated,
                vec![tree(
                    "P3",
                    Change::Deleted,
                    vec![leaf("O4", Change::Deleted)]
                )]
            )),
            Fate::Synced(restored),
        ]
    );
    // Either way P3 ends deleted and O4 live under P1.
    same_state(&harness.state(single), &model.state).unwrap();
}

on_every_engine!(
    blocking:
    syncs_follow_the_model,
    a_resend_changes_nothing,
    bulk_equals_single_syncs,
    answers_keep_input_order_and_add_up,
    a_replace_deletes_after_the_requests_writes,
    outside_writes_are_seen_by_later_syncs,
);
