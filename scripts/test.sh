#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, the property tests and the HTTP
# integration suite on both store engines (SQLite, and a throwaway PostgreSQL this script starts
# and removes) with the console in headless Chromium, a short soak, the PostgreSQL outage tests,
# and the replay of the fuzz inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

# The console's browser test drives headless Chromium through chromedriver (Debian's packages).
if ! command -v chromedriver > /dev/null || ! command -v chromium > /dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# The fuzz oracle (`fuzzing` feature) is only built for the fuzz targets and their replay.
cargo clippy --all-targets --locked --features fuzzing -- -D warnings

# Plain `cargo test` leaves out, as ignored, the tests that need PostgreSQL, the soak and the
# outage tests; with the server started here, they all run. The soak and the outage tests run
# on their own after the rest: the soak measures, and the outage tests stop PostgreSQL.
./scripts/with-postgres.sh bash -c '
    set -e
    cargo test --all-targets --locked -- --include-ignored --skip soak:: --skip deploy::outage_
    ERYXON_SOAK_SECS=20 cargo test --locked --test api soak:: -- --ignored --test-threads=1
    ERYXON_TEST_OUTAGE=1 cargo test --locked --test api deploy::outage_ -- --ignored \
        --test-threads=1
'

# Every fuzz seed and saved crasher through the fuzz checks, which the `fuzzing` feature builds.
cargo test --locked --features fuzzing --test fuzz_regressions

# The served OpenAPI document against the full OpenAPI 3.1 and JSON Schema rules.
./scripts/check-openapi.sh

# The served /metrics page through Prometheus's own checker.
./scripts/check-metrics.sh
