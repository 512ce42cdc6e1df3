#!/usr/bin/env bash
# The README's "Run it", as a new user runs it: in a clean copy of the repository (the files
# a clone would have), the README's own command, `docker compose up --build` (or
# `docker-compose up --build`, which the README names for machines with the older tool),
# attached, its output logged; then every curl line of the README's tutorial block, each
# checked against the answer the README prints under it; then `down -v`.
#
# The base images the Dockerfile names are stood in for locally where missing
# (scripts/docker-base-images.sh). The images this builds (jwt-platform/*:latest) are the
# ones scripts/compose-test.sh and scripts/docker-build-test.sh go on with: one build a run.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

# Bounds: a cold build compiles every dependency (minutes on two cores); the stack then
# starts in seconds. Tries of 1 s.
readonly BUILD_AND_START_TRIES=2700
readonly GATEWAY=http://127.0.0.1:8080

if curl -s -o /dev/null --max-time 1 "$GATEWAY/"; then
    echo "port 8080 is already in use; stop what runs there first" >&2
    exit 1
fi
scripts/docker-base-images.sh >/dev/null

# The README's first command, from the README itself.
run_command=$(python3 - README.md <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
section = text.split("## Run it", 1)[1]
block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
print(block.splitlines()[0].split("#", 1)[0].strip())
EOF
)
if [ "$run_command" != "docker compose up --build" ]; then
    echo "README's Run it command is '$run_command'; this test knows 'docker compose up --build'" >&2
    exit 1
fi
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    compose=(docker-compose)
fi

work=$(mktemp -d)
copy=$work/jwt-platform-readme
mkdir "$copy"
git ls-files -z --cached --others --exclude-standard \
    | (cd "$repo" && tar --null -T - -c) | tar -x -C "$copy"
log=$repo/target/readme-run.log
mkdir -p "$(dirname "$log")"

up_pid=
teardown() {
    echo "== down -v"
    (cd "$copy" && "${compose[@]}" down -v --remove-orphans --timeout 10 >/dev/null 2>&1) || true
    [ -n "$up_pid" ] && wait "$up_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap teardown EXIT

echo "== ${compose[*]} up --build (output in $log)"
started=$(date +%s)
(cd "$copy" && exec "${compose[@]}" up --build) >"$log" 2>&1 &
up_pid=$!
# Ready when this stack's own gateway container is healthy (not whatever else may have
# started listening on the port meanwhile) and answers.
own_gateway_healthy() {
    local id
    id=$(cd "$copy" && "${compose[@]}" ps -q gateway 2>/dev/null || true)
    [ -n "$id" ] && [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null)" = healthy ]
}
for ((i = 0; i < BUILD_AND_START_TRIES; i++)); do
    if own_gateway_healthy \
        && [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$GATEWAY/health/ready" || true)" = 200 ]; then
        break
    fi
    if ! kill -0 "$up_pid" 2>/dev/null; then
        echo "'${compose[*]} up --build' exited before the stack was ready:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    sleep 1
done
if [ "$i" -ge "$BUILD_AND_START_TRIES" ]; then
    echo "the stack was not ready within $BUILD_AND_START_TRIES s" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
echo "built and ready in $(($(date +%s) - started)) s"

echo "== the README's tutorial, line by line"
# Each command of the README's second sh block runs in one shell (TOKEN carries over); a
# command followed by a `# answer` line must print exactly that answer.
python3 - README.md >"$work/tutorial.sh" <<'EOF'
import re, shlex, sys
text = open(sys.argv[1]).read()
section = text.split("## Run it", 1)[1]
block = re.findall(r"```sh\n(.*?)```", section, re.S)[1]
lines, commands = block.splitlines(), []
i = 0
while i < len(lines):
    line = lines[i]
    while line.endswith("\\"):
        i += 1
        line = line[:-1] + lines[i].lstrip()
    if line.startswith("# "):
        commands[-1][1] = re.sub(r"\s+\(\d{3}\)$", "", line[2:]).strip()
    elif line.strip():
        commands.append([line, None])
    i += 1
print("failures=0")
for command, expected in commands:
    if expected is None:
        print(command)
        continue
    print(f"actual=$({command})")
    print(f"if [ \"$actual\" = {shlex.quote(expected)} ]; then echo \"ok   \"{shlex.quote(command)};"
          f" else echo \"FAIL \"{shlex.quote(command)}; echo \"     expected: \"{shlex.quote(expected)};"
          f" echo \"     actual:   $actual\"; failures=$((failures + 1)); fi")
print("exit $failures")
EOF
checks=$(grep -c '^if ' "$work/tutorial.sh")
if [ "$checks" -lt 4 ]; then
    echo "the README's tutorial block has only $checks checked lines" >&2
    exit 1
fi
failures=0
bash "$work/tutorial.sh" || failures=$?

echo "== the images"
for service in auth-service resource-service gateway; do
    image=jwt-platform/$service:latest
    user=$(docker image inspect -f '{{.Config.User}}' "$image")
    health=$(docker image inspect -f '{{if .Config.Healthcheck}}{{join .Config.Healthcheck.Test " "}}{{end}}' "$image")
    compilers=$(docker run --rm --entrypoint sh "$image" -c 'command -v cc gcc rustc cargo ld || true')
    size=$(docker image inspect -f '{{.Size}}' "$image")
    echo "$image: $((size / 1000000)) MB, user $user, health check: $health"
    [ "$user" = 10001:10001 ] || { echo "FAIL $image runs as '$user'"; failures=$((failures + 1)); }
    [ -n "$health" ] || { echo "FAIL $image has no health check"; failures=$((failures + 1)); }
    [ -z "$compilers" ] || { echo "FAIL $image holds $compilers"; failures=$((failures + 1)); }
done

if [ "$failures" -gt 0 ]; then
    echo "README run test: $failures check(s) failed" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
echo "README run test: all checks passed"
