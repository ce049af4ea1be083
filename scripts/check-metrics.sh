#!/usr/bin/env bash
# Serves a throwaway instance, sends it a little traffic and checks the served /metrics text
# with `promtool check metrics` (Debian's `prometheus` package, installed when missing). The
# integration suite checks that the counters move (tests/api/metrics.rs); this checks that
# Prometheus itself accepts the page: names, help texts, types, histogram buckets.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \
        >/dev/null
fi

cargo build --quiet --locked
binary="${CARGO_TARGET_DIR:-target}/debug/eryxon"
dir=$(mktemp -d)
server=
trap '[ -z "$server" ] || { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }; rm -rf "$dir"' EXIT
database="sqlite://$dir/eryxon.db"
key=$("$binary" api-key create --tenant acme --database "$database" 2>"$dir/key.log")
# Port 0: the server picks a free port and logs it (`address=…`), as tests/api/deploy.rs reads.
ERYXON_LOG=info "$binary" serve --listen 127.0.0.1:0 --database "$database" 2>"$dir/server.log" &
server=$!

address=
for _ in $(seq 100); do
    address=$(sed -n 's/.*address=\([^ ]*\).*/\1/p' "$dir/server.log" | head -n 1)
    [ -n "$address" ] && break
    sleep 0.1
done
[ -n "$address" ] || { cat "$dir/server.log" >&2; echo "check-metrics: the server did not start" >&2; exit 1; }
base="http://$address"

# Enough traffic for every kind of series: a created record, a rejected one, a read by id, an
# unmatched path, an unauthenticated call.
curl -fsS -X PUT "$base/api-cells/sync" -H "authorization: Bearer $key" \
    -H 'content-type: application/json' \
    -d '{"external_id": "C1", "external_source": "SAP", "name": "Cutting"}' -o /dev/null
curl -sS -X POST "$base/api-cells/bulk-sync" -H "authorization: Bearer $key" \
    -H 'content-type: application/json' \
    -d '{"cells": [{"external_id": "C2", "external_source": "SAP"}]}' -o /dev/null
curl -sS "$base/api-cells/00000000-0000-0000-0000-000000000000" -H "authorization: Bearer $key" -o /dev/null
curl -sS "$base/no/such/path" -o /dev/null
curl -sS "$base/api-cells" -o /dev/null

curl -fsS "$base/metrics" -o "$dir/metrics.txt"
grep -q '^eryxon_sync_records_total{' "$dir/metrics.txt" || {
    echo "check-metrics: no sync records counted" >&2
    exit 1
}
promtool check metrics <"$dir/metrics.txt"
echo "check-metrics: promtool accepts /metrics ($(grep -vc '^#' "$dir/metrics.txt") series)"
