#!/usr/bin/env bash
# Serves a throwaway instance, fetches /openapi.json and checks it with the OpenAPI 3.1
# validator from PyPI (installed when missing) plus every example against its schema. The Rust
# tests check the document offline; this adds the full JSON Schema rules (pattern, format).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
    # The Rust tests already check the document offline; without PyPI this extra check is
    # skipped rather than failing the suite.
    if ! python3 -m pip install --quiet openapi-spec-validator; then
        echo "check-openapi: openapi-spec-validator could not be installed; skipped" >&2
        exit 0
    fi
fi

cargo build --quiet --locked
binary="${CARGO_TARGET_DIR:-target}/debug/eryxon"
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$binary" serve --listen "127.0.0.1:$port" --database "sqlite://$dir/eryxon.db" 2>"$dir/server.log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT

for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/openapi.json" -o "$dir/openapi.json"
python3 scripts/check_openapi.py "$dir/openapi.json"
