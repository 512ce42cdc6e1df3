#!/usr/bin/env bash
# Starts the three built binaries exactly as a newcomer would (from the repository root,
# no arguments, no environment), replays the seed tutorial's curl flow against :8080, has
# standard JWT client libraries (PyJWT, joserfc; installed from PyPI into a virtual
# environment under target/) verify a token from the published metadata alone, and
# stops them again. Fails loudly on any answer that differs from the seed's.
#
# Usage: scripts/smoke-local.sh [debug|release]   (default: debug)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-debug}

# Start-up budget: 100 tries of 0.1 s.
readonly READY_TRIES=100
pids=()
workdir=""
cleanup() {
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
    wait 2>/dev/null || true
    [ -n "$workdir" ] && rm -rf "$workdir"
}
trap cleanup EXIT

for port in 8080 8081 8082; do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
        echo "port $port is already in use; stop what runs there first" >&2
        exit 1
    fi
done

bin_dir=$(cd "${CARGO_TARGET_DIR:-target}/$profile" && pwd)
# A working directory of its own: the auth-service keeps its SQLite file under ./data, and
# this run must neither reuse nor touch a developer's.
workdir=$(mktemp -d)
for service in auth-service resource-service gateway; do
    # No environment but the most verbose log level, so the secret check below sees all.
    (cd "$workdir" && exec env -i PATH="$PATH" RUST_LOG=debug "$bin_dir/$service") \
        >"/tmp/smoke-$service.log" 2>&1 &
    pids+=("$!")
done
for port in 8080 8081 8082; do
    ready=no
    for ((i = 0; i < READY_TRIES; i++)); do
        if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/health/ready"; then
            ready=yes; break
        fi
        sleep 0.1
    done
    if [ "$ready" = no ]; then
        echo "smoke: nothing ready on port $port; service logs in /tmp/smoke-*.log" >&2
        exit 1
    fi
done

# shellcheck source=scripts/lib/checks.sh
source "$(dirname "$0")/lib/checks.sh"

check "GET / welcomes" '{"message":"Welcome to the Flask JWT API!"} 200' \
    "$(req http://127.0.0.1:8080/)"

login=$(curl -s --max-time 5 -X POST http://127.0.0.1:8080/login \
    -H 'Content-Type: application/json' -d '{"username": "user1", "password": "password123"}')
token=$(printf '%s' "$login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
check "POST /login returns a JWT (three dot-separated parts)" 3 "$(printf '%s' "$token" | awk -F. '{print NF}')"

check "GET /protected with x-access-token" \
    '{"message":"This is a protected route!","user":"user1","roles":[]} 200' \
    "$(req http://127.0.0.1:8080/protected -H "x-access-token: $token")"
check "GET /protected with Authorization: Bearer" \
    '{"message":"This is a protected route!","user":"user1","roles":[]} 200' \
    "$(req http://127.0.0.1:8080/protected -H "Authorization: Bearer $token")"
check "GET /protected without a token" '{"message":"Token is missing!"} 403' \
    "$(req http://127.0.0.1:8080/protected)"
check "GET /protected with a bad token" '{"message":"Token is invalid!"} 403' \
    "$(req http://127.0.0.1:8080/protected -H 'x-access-token: abc.def.ghi')"
check "POST /login with a wrong password" '{"message":"Invalid credentials!"} 401' \
    "$(req -X POST http://127.0.0.1:8080/login -H 'Content-Type: application/json' \
        -d '{"username": "user1", "password": "not-the-password-42"}')"

# Standard JWT client libraries verify the token from the published metadata alone.
venv=${CARGO_TARGET_DIR:-target}/oidc-clients-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'pyjwt[crypto]>=2.8,<3' 'joserfc>=1.0,<2'
fi
# The parser scripts/metrics-check.py uses, added to a venv made before it was needed.
"$venv/bin/python" -c 'import prometheus_client' 2>/dev/null ||
    "$venv/bin/pip" install -q 'prometheus-client>=0.20,<1'

if "$venv/bin/python" scripts/oidc-client-check.py http://127.0.0.1:8080; then
    check "PyJWT and joserfc verify the token from the metadata" yes yes
else
    check "PyJWT and joserfc verify the token from the metadata" yes no
fi

# Every service's metrics (the gateway's and the auth-service's admin listeners, with the
# flow above counted) pass the Prometheus project's strict OpenMetrics parser.
if "$venv/bin/python" scripts/metrics-check.py http://127.0.0.1:9080/metrics \
    http://127.0.0.1:9081/metrics; then
    check "the metrics parse as OpenMetrics" yes yes
else
    check "the metrics parse as OpenMetrics" yes no
fi

leaks=$(grep -l -F -e "$token" -e password123 -e not-the-password-42 /tmp/smoke-*.log || true)
check "no token or password in any log line" "" "$leaks"

if [ "$failures" -gt 0 ]; then
    echo "smoke: $failures check(s) failed; service logs in /tmp/smoke-*.log" >&2
    exit 1
fi
echo "smoke: the seed's flow answers as the seed does"
