#!/usr/bin/env bash
# The Swarm stack (deploy/swarm/stack.yml), tested on a real Docker engine in swarm mode:
#   1. a single-node swarm (`docker swarm init`) unless the engine is in one already; the
#      images (scripts/swarm-images.sh: jwt-platform/*:latest as they are, or the offline
#      build, plus the PostgreSQL image), random secrets, `docker stack deploy`; waits for
#      every replica to be healthy and the gateway's published port to answer
#   2. users made with the admin command line in an auth-service task; the seed's flow
#      through the gateway; only the gateway publishes a port, the services' network is
#      internal
#   3. steady load through the gateway (scripts/swarm-load.py: logins, refreshes, protected
#      calls, key-set reads; never a retry), and under it, one after the other:
#      a. a rolling update of the auth-service (two replicas): no request fails
#      b. a rolling update of the resource-service (three replicas): no request fails
#      c. a signing-key rotation (`auth-service keys rotate` in a task): tokens of the new
#         key are issued and verified, no request fails
#      d. one resource-service task's container killed: it is replaced; only requests
#         already sent when the kill returned may fail
#      e. the gateway's own update (global, host-mode port: the old task stops before the
#         new one starts): the unavailable window is measured, not judged
#   4. the summary table: requests served and failed per step
#   5. removes the stack, its secrets, configs and volume, and the swarm if it made it,
#      whatever failed
#
# The gateway is published on 127.0.0.1:$SWARM_TEST_PORT (default 18480, clear of the ports
# bench/run.py uses). An engine that cannot run swarm mode skips the test (exit 0), saying
# why.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly STACK=jwtswarmtest
readonly PORT=${SWARM_TEST_PORT:-18480}
readonly GATEWAY=http://127.0.0.1:$PORT
# Every wait below is bounded: tries of 0.5 s.
readonly HEALTH_TRIES=180
# Each rolling update is given this long to converge.
readonly UPDATE_TIMEOUT=180
# The rotated key signs this long after `keys rotate` (the service's own lead is 300 s).
readonly ROTATION_LEAD_SECONDS=20

# shellcheck source=scripts/lib/checks.sh
source scripts/lib/checks.sh
now() { date +%s.%N; }

WORKDIR=$(mktemp -d)
made_swarm=no
had_gwbridge=no
docker network inspect docker_gwbridge >/dev/null 2>&1 && had_gwbridge=yes
load_pid=

teardown() {
    echo "== 5. teardown (stack, secrets, configs, volume$([ "$made_swarm" = yes ] && echo ', swarm'))"
    if [ -n "$load_pid" ]; then
        : >"$WORKDIR/stop"
        kill "$load_pid" 2>/dev/null || true
        wait "$load_pid" 2>/dev/null || true
    fi
    docker stack rm "$STACK" >/dev/null 2>&1 || true
    # Volumes and networks can go only once the tasks' containers are gone.
    for ((i = 0; i < 60; i++)); do
        [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ] && break
        sleep 0.5
    done
    local volume secret config
    for ((i = 0; i < 20; i++)); do
        for volume in $(docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK"); do
            docker volume rm "$volume" >/dev/null 2>&1 || true
        done
        [ -z "$(docker volume ls -q --filter "label=com.docker.stack.namespace=$STACK")" ] && break
        sleep 0.5
    done
    if [ "$made_swarm" = yes ]; then
        docker swarm leave --force >/dev/null 2>&1 || true
        # The bridge swarm mode made for the tasks' way out, if there was none before.
        [ "$had_gwbridge" = yes ] || docker network rm docker_gwbridge >/dev/null 2>&1 || true
    else
        for secret in $(docker secret ls -q --filter "label=com.docker.stack.namespace=$STACK" 2>/dev/null); do
            docker secret rm "$secret" >/dev/null 2>&1 || true
        done
        for config in $(docker config ls -q --filter "label=com.docker.stack.namespace=$STACK" 2>/dev/null); do
            docker config rm "$config" >/dev/null 2>&1 || true
        done
        for ((i = 0; i < 30; i++)); do
            [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$STACK")" ] && break
            sleep 0.5
        done
    fi
    rm -rf "$WORKDIR"
}
trap teardown EXIT

# The running tasks' containers of a service, one id a line.
containers_of() {
    local task
    for task in $(docker service ps -q --filter desired-state=running "${STACK}_$1" 2>/dev/null); do
        docker inspect -f '{{if eq .Status.State "running"}}{{.Status.ContainerStatus.ContainerID}}{{end}}' "$task" 2>/dev/null || true
    done | sed '/^$/d'
}

# Every task the service should run is running, in a healthy container; none other runs.
service_healthy() { # service, replicas
    local ids id count=0
    ids=$(containers_of "$1")
    for id in $ids; do
        [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null)" = healthy ] || return 1
        count=$((count + 1))
    done
    [ "$count" = "$2" ] || return 1
    # Only the desired tasks: no old one still stopping.
    [ "$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_$1" | wc -l | tr -d ' ')" = "$2" ]
}

wait_healthy() { # service, replicas
    for ((i = 0; i < HEALTH_TRIES; i++)); do
        service_healthy "$1" "$2" && return 0
        sleep 0.5
    done
    echo "$1: never $2 healthy task(s)" >&2
    docker service ps --no-trunc "${STACK}_$1" >&2 || true
    docker service logs --tail 30 "${STACK}_$1" >&2 || true
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

# A rolling update forced on a service (new tasks, same spec), waited for until swarm calls
# it completed: the last task's monitor period over, nothing rolled back.
rolling_update() { # service
    local service=${STACK}_$1 before state=
    before=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.StartedAt}}{{end}}' "$service")
    docker service update --force --detach --quiet "$service" >/dev/null
    for ((i = 0; i < UPDATE_TIMEOUT * 2; i++)); do
        if [ "$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.StartedAt}}{{end}}' "$service")" != "$before" ]; then
            state=$(docker service inspect -f '{{.UpdateStatus.State}}' "$service")
            case "$state" in
                completed | paused | rollback_*) break ;;
            esac
        fi
        sleep 0.5
    done
    check "$1: the update completed (not rolled back)" completed "$state"
}

echo "== 1. swarm, images, secrets, deploy"
if curl -s -o /dev/null --max-time 1 "$GATEWAY/"; then
    echo "port $PORT is already in use; stop what runs there first (or set SWARM_TEST_PORT)" >&2
    exit 1
fi
swarm_state=$(docker info --format '{{.Swarm.LocalNodeState}}')
case "$swarm_state" in
    inactive)
        if ! init_error=$(docker swarm init --advertise-addr 127.0.0.1 2>&1 >/dev/null); then
            echo "swarm test skipped: this engine cannot run swarm mode: $init_error"
            exit 0
        fi
        made_swarm=yes
        ;;
    active)
        if [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" != true ]; then
            echo "swarm test skipped: this engine is a swarm worker; stacks deploy from a manager"
            exit 0
        fi
        if [ "$(docker node ls -q | wc -l | tr -d ' ')" != 1 ]; then
            echo "the engine is in a swarm of several nodes; the test needs a single-node swarm" >&2
            exit 1
        fi
        ;;
    *)
        echo "swarm test skipped: this engine cannot run swarm mode (swarm state: $swarm_state)"
        exit 0
        ;;
esac
echo "swarm: $([ "$made_swarm" = yes ] && echo 'initialised for the test' || echo 'the engine'"'"'s own')"
scripts/swarm-images.sh
scripts/swarm-secrets.sh "$WORKDIR/secrets" >/dev/null
started=$(now)
GATEWAY_PORT=$PORT PUBLIC_URL=http://localhost:$PORT SECRETS_DIR=$WORKDIR/secrets \
    docker stack deploy --resolve-image never -c deploy/swarm/stack.yml "$STACK"
wait_healthy postgres 1
wait_healthy auth-service 2
wait_healthy resource-service 3
wait_healthy gateway 1
wait_for_status 200 "$GATEWAY/" || { echo "the gateway never answered on $GATEWAY" >&2; exit 1; }
echo "deployed and healthy in $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$started" "$(now)") s"

echo "== 2. users, the seed's flow, only the gateway published"
auth_container=$(containers_of auth-service | head -n 1)
: >"$WORKDIR/users"
for name in swarm-load-1 swarm-load-2 swarm-load-3; do
    password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    created=$(printf '%s' "$password" | docker exec -i "$auth_container" app users add "$name" 2>/dev/null)
    check "users add $name (admin command line in a task)" "created $name" "${created% (*}"
    echo "$name:$password" >>"$WORKDIR/users"
done
first_user=$(head -n 1 "$WORKDIR/users")
check "GET / welcomes" '{"message":"Welcome to the Flask JWT API!"} 200' "$(req "$GATEWAY/")"
login=$(curl -s --max-time 5 -X POST "$GATEWAY/login" -H 'Content-Type: application/json' \
    -d "{\"username\": \"${first_user%%:*}\", \"password\": \"${first_user#*:}\"}")
token=$(printf '%s' "$login" | json_field token)
check "POST /login returns a JWT" 3 "$(printf '%s' "$token" | awk -F. '{print NF}')"
check "GET /protected with the token" \
    "{\"message\":\"This is a protected route!\",\"user\":\"${first_user%%:*}\",\"roles\":[]} 200" \
    "$(req "$GATEWAY/protected" -H "x-access-token: $token")"
check "GET /protected without a token" '{"message":"Token is missing!"} 403' "$(req "$GATEWAY/protected")"
check "POST /login with bad credentials" '{"message":"Invalid credentials!"} 401' \
    "$(req -X POST "$GATEWAY/login" -H 'Content-Type: application/json' -d "{\"username\": \"${first_user%%:*}\", \"password\": \"nope\"}")"
check "no demo user in the production profile" '{"message":"Invalid credentials!"} 401' \
    "$(req -X POST "$GATEWAY/login" -H 'Content-Type: application/json' -d '{"username": "user1", "password": "password123"}')"
check "only the gateway publishes a port, on the node (host mode)" "gateway=host:$PORT" \
    "$(for service in postgres auth-service resource-service gateway; do
        docker service inspect -f "{{range .Endpoint.Ports}}$service={{.PublishMode}}:{{.PublishedPort}} {{end}}" "${STACK}_$service"
    done | xargs)"
check "the services' network has no route out" true \
    "$(docker network inspect -f '{{.Internal}}' "${STACK}_backend")"

echo "== 3. under steady load: rolling updates, a key rotation, a killed task, the gateway's update"
scripts/swarm-load.py run --url "$GATEWAY" --users "$WORKDIR/users" --log "$WORKDIR/load.log" \
    --stop "$WORKDIR/stop" --max-seconds 420 --max-requests 40000 &
load_pid=$!
mark() { # step name, start, end[, kill time]
    echo "$*" >>"$WORKDIR/marks"
    # What the gateway hid from the clients: attempts it sent again to another replica.
    local retried
    retried=$(docker service logs --since "$2" "${STACK}_gateway" 2>/dev/null \
        | grep -c 'retrying on another instance' || true)
    echo "     $1: the gateway retried $retried request(s) on another replica"
}
step_start=$(now)
sleep 6
step_end=$(now); mark baseline "$step_start" "$step_end"; step_start=$step_end

echo "-- a. rolling update of the auth-service"
rolling_update auth-service
wait_healthy auth-service 2
sleep 2
step_end=$(now); mark auth-update "$step_start" "$step_end"; step_start=$step_end

echo "-- b. rolling update of the resource-service"
rolling_update resource-service
wait_healthy resource-service 3
sleep 2
step_end=$(now); mark resource-update "$step_start" "$step_end"; step_start=$step_end

echo "-- c. signing-key rotation"
rotated=$(docker exec -e AUTH__KEYS__PUBLISH_AHEAD_SECONDS="$ROTATION_LEAD_SECONDS" \
    "$(containers_of auth-service | head -n 1)" app keys rotate 2>/dev/null)
echo "$rotated"
new_kid=$(printf '%s' "$rotated" | awk '/^new key/ {print $3}')
seen=no
for ((i = 0; i < HEALTH_TRIES; i++)); do
    if scripts/swarm-load.py report --log "$WORKDIR/load.log" --rotated-kid "$new_kid" --kid-seen; then
        seen=yes
        break
    fi
    sleep 0.5
done
check "tokens signed by the new key are issued and verified" yes "$seen"
sleep 3
step_end=$(now); mark key-rotation "$step_start" "$step_end"; step_start=$step_end

echo "-- d. one resource-service container killed"
victim=$(containers_of resource-service | head -n 1)
docker kill "$victim" >/dev/null
kill_time=$(now)
replaced=no
for ((i = 0; i < HEALTH_TRIES; i++)); do
    if service_healthy resource-service 3 && ! containers_of resource-service | grep -q "^$victim"; then
        replaced=yes
        break
    fi
    sleep 0.5
done
check "the killed task is replaced, three healthy again" yes "$replaced"
sleep 2
step_end=$(now); mark kill "$step_start" "$step_end" "$kill_time"; step_start=$step_end

echo "-- e. the gateway's own update"
rolling_update gateway
wait_healthy gateway 1
wait_for_status 200 "$GATEWAY/" || true
sleep 4
step_end=$(now); mark gateway-update "$step_start" "$step_end"
: >"$WORKDIR/stop"
wait "$load_pid" || true
load_pid=

echo "== 4. summary (single-node swarm on this machine)"
if ! scripts/swarm-load.py report --log "$WORKDIR/load.log" --marks "$WORKDIR/marks" --rotated-kid "$new_kid"; then
    failures=$((failures + 1))
fi

if [ "$failures" -gt 0 ]; then
    echo "swarm test: $failures check(s) failed" >&2
    docker stack ps --no-trunc "$STACK" >&2 || true
    exit 1
fi
echo "swarm test: all checks passed"
