#!/usr/bin/env bash
# Runs CMD against a throwaway PostgreSQL 15 and exits with CMD's status:
#
#   scripts/with-postgres.sh cargo test
#
# The server lives in a temporary directory, listens on a free port of 127.0.0.1 with trust
# authentication and fsync off, and is stopped and deleted when CMD ends, however it ends.
# CMD sees:
#   ERYXON_TEST_POSTGRES_URL  postgres://postgres@127.0.0.1:PORT/postgres
#   ERYXON_TEST_PG_CTL        a pg_ctl for this server, e.g. `"$ERYXON_TEST_PG_CTL" stop`
#                             then `"$ERYXON_TEST_PG_CTL" start` (runs as the right user,
#                             logs to the temporary directory, waits for completion)
#   ERYXON_TEST_PGDATA        the data directory
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi

pg_bin=${ERYXON_PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$pg_bin/initdb" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "$0: $pg_bin/initdb is missing; install postgresql-15" >&2
        exit 1
    fi
    echo "$0: installing postgresql-15" >&2
    apt-get update >&2 </dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 >&2 </dev/null
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/eryxon-pg.XXXXXX")
data="$dir/data"
log="$dir/postgres.log"

# initdb refuses to run as root, so root runs the server as the `postgres` system user.
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin postgres
    fi
    chown postgres: "$dir"
    as_owner=(runuser -u postgres --)
fi

cleanup() {
    "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 </dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${as_owner[@]}" "$pg_bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 \
    --locale=C --no-sync >"$dir/initdb.log" 2>&1 </dev/null || {
    cat "$dir/initdb.log" >&2
    exit 1
}

# The wrapper tests use to stop and restart this server; settings live in postgresql.conf so
# a plain restart comes back on the same port.
cat >"$dir/pg_ctl" <<WRAPPER
#!/bin/sh
exec ${as_owner[*]} "$pg_bin/pg_ctl" -D "$data" -l "$log" -w "\$@" </dev/null
WRAPPER
chmod 755 "$dir/pg_ctl"

# A port another process takes between the check and the start only costs another try.
started=
for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        continue
    fi
    cat >"$data/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    if "$dir/pg_ctl" start >/dev/null 2>&1; then
        started=yes
        break
    fi
done
if [ -z "$started" ]; then
    echo "$0: PostgreSQL did not start; its log:" >&2
    cat "$log" >&2 || true
    exit 1
fi

export ERYXON_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
export ERYXON_TEST_PG_CTL="$dir/pg_ctl"
export ERYXON_TEST_PGDATA="$data"

set +e
"$@"
status=$?
set -e
exit "$status"
