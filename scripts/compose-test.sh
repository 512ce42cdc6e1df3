#!/usr/bin/env bash
# The compose stack, tested on a real Docker engine, from a clean checkout:
#   1. builds the images and brings the stack up, waiting on health checks
#   2. replays the seed's flow against localhost:8080, and spreads /protected over three
#      resource-service replicas (--scale)
#   3. shows the auth-service and resource-service cannot be reached from the host
#   4. stops the resource-service: 502/503 JSON within 2 s; serves again once it is back
#   5. restarts the auth-service: users, refresh tokens and keys survive; a logout reaches
#      the gateway over the revocation stream on the internal network
#   6. kills the gateway's process: the restart policy brings it back, and the logged-out
#      token stays refused
#   7. changes a route and a CORS origin in the mounted settings file (config/, copied):
#      after a restart of the gateway, and no rebuild, both take effect
#   8. tears everything down, volumes included, whatever failed
#
# It runs on the images jwt-platform/*:latest when all three exist (scripts/readme-run-test.sh
# builds them from source just before, in the same test run: one image build a run), and
# builds them from source otherwise (`up --build`, with local stand-ins for the base images
# where they are missing). COMPOSE_TEST_MODE=prebuilt takes the offline path instead
# (scripts/compose-offline.sh: binaries built on the host, the `prebuilt` target).
set -euo pipefail
cd "$(dirname "$0")/.."

export COMPOSE_PROJECT_NAME=jwtplatformtest
readonly GATEWAY=http://127.0.0.1:8080
# Every wait below is bounded: tries of 0.5 s.
readonly HEALTH_TRIES=120
compose() { scripts/compose.sh "$@"; }
# The stack's settings files, copied so that step 7 can change them; readable by the
# services' unprivileged user.
CONFIG_DIR=$(mktemp -d)
cp config/*.toml "$CONFIG_DIR/"
chmod 755 "$CONFIG_DIR" && chmod 644 "$CONFIG_DIR"/*.toml
export CONFIG_DIR

# shellcheck source=scripts/lib/checks.sh
source scripts/lib/checks.sh

teardown() {
    echo "== 8. teardown (volumes included)"
    compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
    rm -rf "$CONFIG_DIR"
}
trap teardown EXIT

wait_healthy() { # service; every container of it healthy
    local ids status all
    for ((i = 0; i < HEALTH_TRIES; i++)); do
        ids=$(compose ps -q "$1" 2>/dev/null || true)
        all=yes
        [ -z "$ids" ] && all=no
        for id in $ids; do
            status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null || echo none)
            [ "$status" = healthy ] || all=no
        done
        [ "$all" = yes ] && return 0
        sleep 0.5
    done
    echo "$1 never became healthy" >&2
    compose logs --tail 30 "$1" >&2 || true
    return 1
}

wait_for_status() { # expected status, then curl arguments
    local expected=$1; shift
    for ((i = 0; i < HEALTH_TRIES; i++)); do
        [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$@" || true)" = "$expected" ] && return 0
        sleep 0.5
    done
    return 1
}

echo "== 1. build and start"
if curl -s -o /dev/null --max-time 1 "$GATEWAY/"; then
    echo "port 8080 is already in use; stop what runs there first" >&2
    exit 1
fi
images_present() {
    local service
    for service in auth-service resource-service gateway; do
        docker image inspect "jwt-platform/$service:latest" >/dev/null 2>&1 || return 1
    done
}
if [ "${COMPOSE_TEST_MODE:-}" = prebuilt ]; then
    scripts/compose-offline.sh up -d
elif images_present; then
    compose up -d
else
    scripts/docker-base-images.sh >/dev/null
    compose up -d --build
fi
wait_healthy auth-service
wait_healthy resource-service
wait_healthy gateway

echo "== 2. the seed's flow against localhost:8080"
check "GET / welcomes" '{"message":"Welcome to the Flask JWT API!"} 200' "$(req "$GATEWAY/")"
login=$(curl -s --max-time 5 -X POST "$GATEWAY/login" -H 'Content-Type: application/json' \
    -d '{"username": "user1", "password": "password123"}')
token=$(printf '%s' "$login" | json_field token)
refresh=$(printf '%s' "$login" | json_field refresh_token)
check "POST /login returns a JWT" 3 "$(printf '%s' "$token" | awk -F. '{print NF}')"
check "GET /protected with the token" \
    '{"message":"This is a protected route!","user":"user1","roles":[]} 200' \
    "$(req "$GATEWAY/protected" -H "x-access-token: $token")"
check "GET /protected without a token" '{"message":"Token is missing!"} 403' "$(req "$GATEWAY/protected")"
check "GET /protected with a bad token" '{"message":"Token is invalid!"} 403' \
    "$(req "$GATEWAY/protected" -H 'x-access-token: abc.def.ghi')"
check "POST /login with bad credentials" '{"message":"Invalid credentials!"} 401' \
    "$(req -X POST "$GATEWAY/login" -H 'Content-Type: application/json' -d '{"username": "user1", "password": "nope"}')"

compose up -d --no-recreate --scale resource-service=3
wait_healthy resource-service
# The gateway re-resolves the name every 2 s; then requests take turns.
sleep 3
for ((i = 0; i < 30; i++)); do
    curl -s -o /dev/null --max-time 5 "$GATEWAY/protected" -H "x-access-token: $token" -H "x-request-id: spread-$i"
done
served_by=$(for id in $(compose ps -q resource-service); do
    docker logs "$id" 2>&1 | grep -c 'spread-' || true
done | awk '$1 > 0' | wc -l | tr -d ' ')
check "--scale resource-service=3: every replica serves" 3 "$served_by"
compose up -d --no-recreate --scale resource-service=1
wait_healthy resource-service

echo "== 3. only the gateway is reachable from the host"
check "auth-service port not published" 000 "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' http://127.0.0.1:8081/ || true)"
check "resource-service port not published" 000 "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' http://127.0.0.1:8082/ || true)"
resource_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$(compose ps -q resource-service | head -n 1)" | awk '{print $1}')
direct=$(curl -s --max-time 2 -w ' %{http_code}' "http://$resource_ip:8082/protected" \
    -H 'x-auth-user: admin' -H 'x-auth-subject: s' -H 'x-auth-token-id: t' || true)
case "$direct" in
    ""|*" 000") check "resource-service container unreachable from the host" yes yes ;;
    *) check "a direct request to the resource-service is refused" \
        '{"message":"This service only answers requests forwarded by the gateway."} 401' "$direct" ;;
esac

echo "== 4. resource-service down, then back"
compose stop resource-service >/dev/null
started=$(date +%s%N)
down=$(req "$GATEWAY/protected" -H "x-access-token: $token")
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
case "$down" in
    *'"message":'*" 502"|*'"message":'*" 503") check "502/503 JSON while it is down" yes yes ;;
    *) check "502/503 JSON while it is down" "502 or 503 JSON" "$down" ;;
esac
check "answered within 2 s (${elapsed_ms} ms)" yes "$([ "$elapsed_ms" -le 2000 ] && echo yes || echo no)"
compose start resource-service >/dev/null
wait_healthy resource-service
if wait_for_status 200 "$GATEWAY/protected" -H "x-access-token: $token"; then
    check "serves again without a gateway restart" 200 200
else
    check "serves again without a gateway restart" 200 "$(req "$GATEWAY/protected" -H "x-access-token: $token")"
fi

echo "== 5. auth-service restart keeps users, refresh tokens and keys"
check "register a user" 201 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GATEWAY/register" \
    -H 'Content-Type: application/json' -d '{"username": "persistent", "password": "survives-restarts"}')"
jwks_before=$(curl -s --max-time 5 "$GATEWAY/.well-known/jwks.json")
compose restart auth-service >/dev/null
wait_healthy auth-service
check "the user can still log in" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GATEWAY/login" \
    -H 'Content-Type: application/json' -d '{"username": "persistent", "password": "survives-restarts"}')"
check "the signing keys are the same" "$jwks_before" "$(curl -s --max-time 5 "$GATEWAY/.well-known/jwks.json")"
check "a refresh token from before still rotates" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GATEWAY/refresh" \
    -H 'Content-Type: application/json' -d "{\"refresh_token\": \"$refresh\"}")"
check "an access token from before still verifies" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$GATEWAY/protected" -H "x-access-token: $token")"

echo "== 5b. a logout reaches the gateway over the revocation stream (internal network)"
session=$(curl -s --max-time 5 -X POST "$GATEWAY/login" -H 'Content-Type: application/json' \
    -d '{"username": "user1", "password": "password123"}')
session_token=$(printf '%s' "$session" | json_field token)
session_refresh=$(printf '%s' "$session" | json_field refresh_token)
status_with() { curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$GATEWAY/protected" -H "x-access-token: $1" || true; }
check "a new session's token is accepted" 200 "$(status_with "$session_token")"
curl -s -o /dev/null --max-time 5 -X POST "$GATEWAY/logout" -H 'Content-Type: application/json' \
    -d "{\"refresh_token\": \"$session_refresh\"}"
if wait_for_status 403 "$GATEWAY/protected" -H "x-access-token: $session_token"; then
    check "after its logout it is refused" yes yes
else
    check "after its logout it is refused" 403 "$(status_with "$session_token")"
fi
check "the other session's token is not" 200 "$(status_with "$token")"

echo "== 6. the gateway crashes and comes back"
gateway_id=$(compose ps -q gateway)
restarts_before=$(docker inspect -f '{{.RestartCount}}' "$gateway_id")
kill -9 "$(docker inspect -f '{{.State.Pid}}' "$gateway_id")"
sleep 1
if wait_for_status 200 "$GATEWAY/"; then
    check "the restart policy brought it back" yes \
        "$([ "$(docker inspect -f '{{.RestartCount}}' "$gateway_id")" -gt "$restarts_before" ] && echo yes || echo no)"
else
    check "the restart policy brought it back" 200 "$(req "$GATEWAY/")"
fi
wait_healthy gateway
check "and serves the flow again" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$GATEWAY/protected" -H "x-access-token: $token")"
# A new gateway process reads every revocation still in force before it is current.
if wait_for_status 403 "$GATEWAY/protected" -H "x-access-token: $session_token"; then
    check "a token logged out before the crash stays refused" yes yes
else
    check "a token logged out before the crash stays refused" 403 "$(status_with "$session_token")"
fi

echo "== 7. a route and a CORS origin changed in the mounted settings file"
preflight_origin() { # origin: the access-control-allow-origin answered to its preflight
    curl -s -o /dev/null -D - --max-time 5 -X OPTIONS "$GATEWAY/login" -H "Origin: $1" \
        -H 'Access-Control-Request-Method: POST' \
        | tr -d '\r' | awk -F': ' 'tolower($1) == "access-control-allow-origin" { print $2 }'
}
check "before: any origin is allowed" '*' "$(preflight_origin https://elsewhere.example)"
check "before: /register is routed" 409 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GATEWAY/register" \
    -H 'Content-Type: application/json' -d '{"username": "persistent", "password": "survives-restarts"}')"
# The compiled-in route table without /register (a [[routes]] list replaces the whole table).
python3 - gateway/configuration/base.toml >>"$CONFIG_DIR/gateway.toml" <<'PY'
import json, sys, tomllib
routes = tomllib.load(open(sys.argv[1], "rb"))["routes"]
print('[cors]\nallowed_origins = ["https://app.example"]')
for route in routes:
    if route["path"] != "/register":
        print("[[routes]]")
        for key, value in route.items():
            print(f"{key} = {json.dumps(value)}")
PY
compose restart gateway >/dev/null
wait_healthy gateway
check "after: the configured origin is allowed" https://app.example "$(preflight_origin https://app.example)"
check "after: another origin is not" "" "$(preflight_origin https://elsewhere.example)"
check "after: /register is no longer routed" 404 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GATEWAY/register" \
    -H 'Content-Type: application/json' -d '{"username": "x", "password": "another-password"}')"
check "after: /login still is" 200 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$GATEWAY/login" \
    -H 'Content-Type: application/json' -d '{"username": "user1", "password": "password123"}')"

if [ "$failures" -gt 0 ]; then
    echo "compose test: $failures check(s) failed" >&2
    compose logs --tail 40 >&2 || true
    exit 1
fi
echo "compose test: all checks passed"
