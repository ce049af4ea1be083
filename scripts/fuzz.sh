#!/usr/bin/env bash
# Fuzzes the request-body decoding and validation of every sync endpoint (`sync_body`) and the
# Authorization header parser (`key_header`) with cargo-fuzz (libFuzzer), each for a bounded
# time, starting from the committed seeds. Fails on the first crash or invariant breach; the
# input is left in fuzz/artifacts/<target>/ (keep it as fuzz/regressions/<target>/<name>).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]   # default 60 s, every target
#   scripts/fuzz.sh 3600                             # the long run: an hour per target
#
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz if
# missing. Honours CARGO_TARGET_DIR. The grown corpus lives in fuzz/corpus/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sync_body key_header)
sanitizer="${FUZZ_SANITIZER:-address}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
target_dir=()
[ -n "${CARGO_TARGET_DIR:-}" ] && target_dir=(--target-dir "$CARGO_TARGET_DIR/fuzz")

for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== $target: ${seconds}s, sanitizer $sanitizer" >&2
    dict=()
    [ -f "$target.dict" ] && dict=("-dict=$target.dict")
    # New inputs go to corpus/ (the first directory); seeds/ is only read.
    cargo +nightly fuzz run --sanitizer "$sanitizer" "${target_dir[@]}" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "${dict[@]}"
done
