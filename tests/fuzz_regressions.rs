//! Replays every fuzz seed and every saved crasher (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the checks the fuzz targets assert, so that a bug the
//! fuzzer once found stays fixed, on stable Rust and without cargo-fuzz. The checks are built
//! with the `fuzzing` feature: `cargo test --features fuzzing --test fuzz_regressions`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use eryxon::http::fuzz::{check_key_header, check_sync_body};

/// Every fuzz target, by its directory name under `fuzz/seeds/` and `fuzz/regressions/`.
const TARGETS: [&str; 2] = ["sync_body", "key_header"];

/// What each fuzz target does with its input.
fn run(target: &str, input: &[u8]) -> Result<(), String> {
    match target {
        "sync_body" => match input.split_first() {
            Some((&selector, body)) => check_sync_body(selector, body),
            None => Ok(()),
        },
        "key_header" => check_key_header(input),
        other => Err(format!("no fuzz target {other}")),
    }
}

/// Replays every input under `fuzz/<kind>/`, failing on any breach; answers how many inputs
/// each target's directory held. A directory named for no target fails too, so that inputs
/// kept under a misspelt name are not silently left out.
fn replay(kind: &str) -> BTreeMap<String, usize> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut replayed = BTreeMap::new();
    let mut failures = Vec::new();
    let directories =
        fs::read_dir(&root).unwrap_or_else(|error| panic!("{}: {error}", root.display()));
    for directory in directories {
        let directory = directory.unwrap().path();
        let target = directory
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            TARGETS.contains(&target.as_str()),
            "{}: no fuzz target is named {target}",
            directory.display()
        );
        let mut count = 0;
        for entry in fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            let input = fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&target, &input))
                .unwrap_or_else(|_| Err("panicked".to_owned()));
            if let Err(breach) = outcome {
                failures.push(format!("{}: {breach}", path.display()));
            }
            count += 1;
        }
        replayed.insert(target, count);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    replayed
}

#[test]
fn seeds_pass_the_fuzz_checks() {
    let replayed = replay("seeds");
    for target in TARGETS {
        let seeds = replayed.get(target).copied().unwrap_or(0);
        assert!(seeds > 0, "no seeds for {target} under fuzz/seeds/{target}");
    }
}

#[test]
fn saved_crashers_stay_fixed() {
    let replayed: usize = replay("regressions").values().sum();
    assert!(
        replayed > 0,
        "no saved crashers found under fuzz/regressions"
    );
}
