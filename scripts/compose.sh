#!/usr/bin/env bash
# Runs Docker Compose, whichever of its two commands this machine has:
# `docker compose` (the plugin) or `docker-compose` (the standalone tool).
set -euo pipefail
if docker compose version >/dev/null 2>&1; then
    exec docker compose "$@"
elif command -v docker-compose >/dev/null 2>&1; then
    exec docker-compose "$@"
fi
echo "neither 'docker compose' nor 'docker-compose' is installed" >&2
exit 1
