#!/usr/bin/env bash
# Runs the whole stack on this machine with the local profile: gateway on :8080,
# auth-service on :8081, resource-service on :8082. Ctrl-C stops all three.
#
# Usage: scripts/run-local.sh [--debug]   (default: release build)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
[ "${1:-}" = "--debug" ] && profile=debug
flag=$([ "$profile" = release ] && echo --release || true)

cargo build $flag --locked -p auth-service -p resource-service -p gateway

pids=()
stop() {
    trap - INT TERM EXIT
    [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

for service in auth-service resource-service gateway; do
    "${CARGO_TARGET_DIR:-target}/$profile/$service" &
    pids+=("$!")
done
echo "Stack running: gateway on http://127.0.0.1:8080 (Ctrl-C to stop)"
# Stop everything as soon as any one service exits.
wait -n
