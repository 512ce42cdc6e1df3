#!/usr/bin/env bash
# The images the Swarm stack (deploy/swarm/stack.yml) runs, made on this machine (a stack
# deployed with --resolve-image never pulls nothing: run this on every node):
#   jwt-platform/{auth-service,resource-service,gateway}:latest
#       kept where all three exist (`docker compose build`, or the README's `up --build`,
#       makes them from source); otherwise built the way scripts/compose-offline.sh does:
#       the binaries built here, the Dockerfile's `prebuilt` target on the runtime base
#   jwt-platform/postgres:latest
#       docker/postgres: Debian's PostgreSQL package on the runtime base, with this
#       machine's CA bundle for apt sources on HTTPS; rebuilt each time (from the cache)
# The runtime base (debian:bookworm-slim) is the local stand-in of
# scripts/docker-base-images.sh where it is missing. The classic builder throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} COMPOSE_DOCKER_CLI_BUILD=${COMPOSE_DOCKER_CLI_BUILD:-0}

images_present() {
    local service
    for service in auth-service resource-service gateway; do
        docker image inspect "jwt-platform/$service:latest" >/dev/null 2>&1 || return 1
    done
}
if images_present; then
    echo "jwt-platform/{auth-service,resource-service,gateway}:latest present" >&2
else
    echo "building jwt-platform/{auth-service,resource-service,gateway}:latest (prebuilt)" >&2
    scripts/compose-offline.sh build >&2
fi

RUNTIME_IMAGE=$(scripts/docker-base-images.sh runtime)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp docker/postgres/Dockerfile docker/postgres/entrypoint.sh "$context/"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    cp /etc/ssl/certs/ca-certificates.crt "$context/"
else
    : >"$context/ca-certificates.crt"
fi
echo "building jwt-platform/postgres:latest on $RUNTIME_IMAGE" >&2
docker build -q --build-arg BASE_IMAGE="$RUNTIME_IMAGE" -t jwt-platform/postgres:latest "$context" >&2
