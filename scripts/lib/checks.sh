# Sourced by the smoke and Docker tests (smoke-local.sh, compose-test.sh, swarm-test.sh): a failure counter, a named
# comparison that counts, and the request and JSON helpers they check answers with.
# shellcheck shell=bash

failures=0
check() { # name, expected, actual
    if [ "$2" = "$3" ]; then
        echo "ok   $1"
    else
        echo "FAIL $1"; echo "     expected: $2"; echo "     actual:   $3"
        failures=$((failures + 1))
    fi
}
# A body followed by the status code; a connection that fails gives an empty body and 000.
req() { curl -s --max-time 5 -w ' %{http_code}' "$@" || true; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }
