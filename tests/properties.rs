//! Property tests of the sync rules on the real SQLite store: any batch, answered in input order
//! with counts that add up; a re-send changes nothing; stored state is the last writer's, field
//! by field (absent keeps, null clears or resets to the default).

use std::collections::BTreeMap;

use eryxon::domain::api_key::{IssuedKey, TenantSlug};
use eryxon::domain::batch::{prepare_bulk, BulkBody};
use eryxon::domain::decode::decode;
use eryxon::domain::outcome::{Change, Counts, RecordResult};
use eryxon::domain::record::CellPayload;
use eryxon::domain::{Entity, Mode, Scope};
use eryxon::store::{self, Finish, RecordRef, Store};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// One optional field as sent: left out, null, or a value (some of them invalid).
fn field(values: Vec<Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(Value::Null)),
        3 => proptest::sample::select(values).prop_map(Some),
    ]
}

fn cell() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(vec!["A", "B", "C", "D"]),
        proptest::sample::select(vec![json!("Cutting"), json!("Bending"), json!("")]),
        field(vec![json!("#aabbcc"), json!("#123456"), json!("red")]),
        field(vec![json!(0), json!(3), json!(-1)]),
        field(vec![json!(true), json!(false)]),
        field(vec![json!("n1"), json!("n2")]),
    )
        .prop_map(|(id, name, color, wip_limit, active, notes)| {
            let mut cell = Map::new();
            cell.insert("external_id".into(), json!(id));
            cell.insert("external_source".into(), json!("ERP"));
            cell.insert("name".into(), name);
            for (key, value) in [
                ("color", color),
                ("wip_limit", wip_limit),
                ("active", active),
                ("notes", notes),
            ] {
                if let Some(value) = value {
                    cell.insert(key.into(), value);
                }
            }
            Value::Object(cell)
        })
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    store: std::sync::Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Harness {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let store = runtime.block_on(store::open(&url)).unwrap();
        Harness {
            runtime,
            store,
            _dir: dir,
        }
    }

    /// A fresh tenant, so every case starts from an empty store.
    fn scope(&self) -> Scope {
        self.runtime.block_on(async {
            let tenant = format!("t{}", uuid::Uuid::now_v7().simple());
            let key = IssuedKey::generate(Mode::Live);
            let slug = TenantSlug::parse(&tenant).unwrap();
            self.store.create_api_key(&slug, None, &key).await.unwrap();
            let stored = self.store.find_api_key(&key.lookup).await.unwrap().unwrap();
            Scope {
                tenant_id: stored.tenant_id,
                mode: Mode::Live,
            }
        })
    }

    fn sync(&self, scope: Scope, cells: &[Value]) -> Vec<RecordResult> {
        let body = serde_json::to_vec(&json!({ "cells": cells })).unwrap();
        let prepared = prepare_bulk(decode::<BulkBody<CellPayload>>(&body).unwrap()).unwrap();
        let mut results = self
            .runtime
            .block_on(self.store.sync(scope, prepared.batch, Finish::Commit))
            .unwrap();
        results.extend(prepared.rejected);
        results.sort_by_key(|r| r.index);
        results
    }

    fn stored(&self, scope: Scope, external_id: &str) -> Option<Value> {
        let target = RecordRef::External {
            source: "ERP".into(),
            external_id: external_id.into(),
        };
        self.runtime
            .block_on(self.store.get(scope, Entity::Cells, &target, false))
            .unwrap()
            .map(|raw| serde_json::from_str(raw.get()).unwrap())
    }
}

const FIELDS: [&str; 5] = ["name", "color", "wip_limit", "active", "notes"];

/// What a field holds when nothing (or null) was ever sent.
fn default_of(field: &str) -> Value {
    match field {
        "active" => json!(true),
        _ => Value::Null,
    }
}

/// The state the store should hold: each accepted record applied in order, field by field.
fn model(
    batches: &[(&[Value], &[RecordResult])],
) -> BTreeMap<String, BTreeMap<&'static str, Value>> {
    let mut state: BTreeMap<String, BTreeMap<&'static str, Value>> = BTreeMap::new();
    for (cells, results) in batches {
        for (cell, result) in cells.iter().zip(results.iter()) {
            if result.outcome.is_err() {
                continue;
            }
            let id = cell["external_id"].as_str().unwrap().to_owned();
            let row = state
                .entry(id)
                .or_insert_with(|| FIELDS.iter().map(|f| (*f, default_of(f))).collect());
            for field in FIELDS {
                match cell.get(field) {
                    None => {}
                    Some(Value::Null) => {
                        row.insert(field, default_of(field));
                    }
                    Some(value) => {
                        row.insert(field, value.clone());
                    }
                }
            }
        }
    }
    state
}

/// A record's fate as a client sees it, whichever endpoint answered.
fn fate(result: &RecordResult) -> Result<Change, (String, Option<String>)> {
    match &result.outcome {
        Ok(synced) => Ok(synced.change),
        Err(error) => Err((format!("{:?}", error.code), error.field.clone())),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn bulk_results_equal_single_sync_results(
        existing in proptest::collection::vec(cell(), 0..6),
        cells in proptest::collection::vec(cell(), 1..10),
    ) {
        // One record per key: within one request a repeated key is refused by design.
        let mut seen = std::collections::BTreeSet::new();
        let cells: Vec<Value> = cells
            .into_iter()
            .filter(|c| seen.insert(c["external_id"].as_str().unwrap().to_owned()))
            .collect();
        let harness = Harness::new();
        let (bulk, single) = (harness.scope(), harness.scope());
        for scope in [bulk, single] {
            for cell in &existing {
                harness.sync(scope, std::slice::from_ref(cell));
            }
        }
        let bulk_results = harness.sync(bulk, &cells);
        for (cell, in_bulk) in cells.iter().zip(&bulk_results) {
            let alone = harness.sync(single, std::slice::from_ref(cell));
            prop_assert_eq!(fate(&alone[0]), fate(in_bulk), "{}", cell);
        }
    }

    #[test]
    fn answers_keep_input_order_and_add_up(cells in proptest::collection::vec(cell(), 0..12)) {
        let harness = Harness::new();
        let scope = harness.scope();
        let results = harness.sync(scope, &cells);
        prop_assert_eq!(results.len(), cells.len());
        for (i, result) in results.iter().enumerate() {
            prop_assert_eq!(result.index, i);
        }
        let counts = Counts::of(&results);
        prop_assert_eq!(counts.total, counts.created + counts.updated + counts.errors);
    }

    #[test]
    fn a_resend_changes_nothing_and_state_is_the_last_writers(
        first in proptest::collection::vec(cell(), 1..10),
        second in proptest::collection::vec(cell(), 1..10),
    ) {
        let harness = Harness::new();
        let scope = harness.scope();
        let first_results = harness.sync(scope, &first);
        let second_results = harness.sync(scope, &second);

        let again = harness.sync(scope, &second);
        for (before, after) in second_results.iter().zip(&again) {
            match (&before.outcome, &after.outcome) {
                (Ok(_), Ok(synced)) => prop_assert_eq!(synced.change, Change::Unchanged),
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "{:?} then {:?}", a, b),
            }
        }

        let expected = model(&[(&first, &first_results), (&second, &second_results)]);
        for (id, fields) in &expected {
            let stored = harness.stored(scope, id).expect("an accepted record is stored");
            for (field, value) in fields {
                prop_assert_eq!(&stored[*field], value, "{}.{}", id, field);
            }
        }
        for id in ["A", "B", "C", "D"] {
            prop_assert_eq!(harness.stored(scope, id).is_some(), expected.contains_key(id));
        }
    }
}
