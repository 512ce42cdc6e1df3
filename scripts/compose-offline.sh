#!/usr/bin/env bash
# Docker Compose without compiling in an image: builds the three binaries here, stands in
# for debian:bookworm-slim locally where it is missing (debootstrap, see
# scripts/docker-base-images.sh), and builds the images' `prebuilt` target on it. Then runs
# compose with the given arguments:
#   scripts/compose-offline.sh up          # instead of: docker compose up --build
#   scripts/compose-offline.sh down -v
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p auth-service -p resource-service -p gateway >&2
for service in auth-service resource-service gateway; do
    cp "${CARGO_TARGET_DIR:-target}/release/$service" "docker/prebuilt/$service/app"
done
export BUILD_TARGET=prebuilt
RUNTIME_IMAGE=$(scripts/docker-base-images.sh runtime)
export RUNTIME_IMAGE
# The classic builder: BuildKit may be missing, and the prebuilt path needs neither.
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0} COMPOSE_DOCKER_CLI_BUILD=${COMPOSE_DOCKER_CLI_BUILD:-0}
scripts/compose.sh build >&2
exec scripts/compose.sh "$@"
