#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite, on 127.0.0.1 only, trusting local
# connections, with its data in a temporary folder.
#
#   scripts/postgres-for-tests.sh start   starts it (installing Debian's package if it is
#                                         missing) and prints its URL
#   scripts/postgres-for-tests.sh stop    stops it and deletes its data
set -euo pipefail

readonly PORT=${TEST_PG_PORT:-55432}
readonly DIR=${TEST_PG_DIR:-/tmp/jwt-platform-test-pg}
readonly URL="postgres://postgres@127.0.0.1:$PORT/postgres"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

as_owner() {
    # The server refuses to run as root; Debian's package provides the `postgres` user.
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
    if [ -z "$(pg_bin)" ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "PostgreSQL is not installed; run as root or install Debian's postgresql" >&2
            exit 1
        fi
        echo "installing PostgreSQL (Debian package)..." >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    local bin
    bin=$(pg_bin)
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
        echo "$URL"
        return
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    as_owner "$bin/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
    # fsync off: a test server trades durability for speed; the tests that kill a process
    # kill the auth-service, never this server.
    as_owner "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 \
        -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
        start >/dev/null
    echo "$URL"
}

stop() {
    local bin
    bin=$(pg_bin)
    if [ -n "$bin" ] && [ -d "$DIR/data" ]; then
        as_owner "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
