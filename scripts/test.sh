#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and the HTTP integration suite on both
# store engines (SQLite, and a throwaway PostgreSQL this script starts and removes).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# The fuzz oracle (`fuzzing` feature) is only built for the fuzz targets and their replay.
cargo clippy --all-targets --locked --features fuzzing -- -D warnings

# Every integration test runs on SQLite and on PostgreSQL; without a server they would skip.
export ERYXON_REQUIRE_POSTGRES=1
./scripts/with-postgres.sh bash -c '
    set -e
    cargo test --all-targets --locked
    # The outage tests stop PostgreSQL, so they run alone, one at a time, after everything else.
    ERYXON_TEST_OUTAGE=1 cargo test --locked --test api outage -- --test-threads=1
'

# Every fuzz seed and saved crasher through the fuzz checks, which the `fuzzing` feature builds.
cargo test --locked --features fuzzing --test fuzz_regressions

# The served OpenAPI document against the full OpenAPI 3.1 and JSON Schema rules.
./scripts/check-openapi.sh
