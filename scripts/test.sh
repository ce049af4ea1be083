#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the HTTP integration suite.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
