//! Replays every fuzz seed and every saved crasher (`fuzz/seeds/<target>/`,
//! `fuzz/regressions/<target>/`) through the checks the fuzz targets assert, so that a bug the
//! fuzzer once found stays fixed, on stable Rust and without cargo-fuzz.

use std::fs;
use std::path::Path;

use eryxon::http::fuzz::{check_key_header, check_sync_body};

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

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut replayed = 0;
    let mut failures = Vec::new();
    for target in ["sync_body", "key_header"] {
        let Ok(entries) = fs::read_dir(root.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let input = fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(target, &input))
                .unwrap_or_else(|_| Err("panicked".to_owned()));
            if let Err(breach) = outcome {
                failures.push(format!("{}: {breach}", path.display()));
            }
            replayed += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    replayed
}

#[test]
fn seeds_pass_the_fuzz_checks() {
    assert!(replay("seeds") > 0, "no seeds found under fuzz/seeds");
}

#[test]
fn saved_crashers_stay_fixed() {
    replay("regressions");
}
