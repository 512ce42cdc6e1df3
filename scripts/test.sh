#!/usr/bin/env bash
# Every test of the project: unit, per-service integration (the auth-service's on SQLite
# and on PostgreSQL) and end-to-end tests, a smoke run of the real binaries replaying the
# seed's curl flow on ports 8080-8082, the attack suite (scripts/attack-suite.py),
# schemathesis on the public API's OpenAPI document (scripts/schemathesis-test.py), nginx's
# auth_request through the gateway (scripts/nginx-forward-auth-test.py) and revocation
# across replicas (bench/revocation.py) on free loopback ports, the Kubernetes manifests
# rendered and validated offline (scripts/kubernetes-validate.py), then the Docker part
# (SKIP_COMPOSE_TEST=1 leaves it out on a machine without Docker): the README's
# `docker compose up --build` in a clean copy (scripts/readme-run-test.sh, which builds the
# images once for everything after it), the image build's resistance to drift
# (scripts/docker-build-test.sh), the compose stack's behaviour on those images
# (scripts/compose-test.sh), and the Swarm stack on them (scripts/swarm-test.sh: rolling
# updates, a key rotation, a killed task and the gateway's own update under steady load,
# on a single-node swarm, made and left by the test if the engine is in none; skipped,
# saying so, where the engine cannot run swarm mode).
#
# A throwaway PostgreSQL server is started for the run (and Debian's package installed if
# it is missing and we are root); set TEST_DATABASE_URL to use a server of your own.
set -euo pipefail
cd "$(dirname "$0")/.."
# No module of the gateway imports one that imports it back (docs/ARCHITECTURE.md).
scripts/check-module-cycles.py gateway/src

started_postgres=no
if [ -z "${TEST_DATABASE_URL:-}" ]; then
    TEST_DATABASE_URL=$(scripts/postgres-for-tests.sh start)
    started_postgres=yes
fi
export TEST_DATABASE_URL REQUIRE_POSTGRES=1
cleanup() { [ "$started_postgres" = yes ] && scripts/postgres-for-tests.sh stop || true; }
trap cleanup EXIT

cargo test --workspace --locked
# The OTLP span exporter is behind a feature: its tests against a stub collector.
cargo test --locked -p service-kit --features otlp --lib otlp
# `cargo test` has just built the three binaries in target/debug.
scripts/smoke-local.sh debug
# Slow, stalled, smuggling, flooding and guessing clients against the same binaries, each
# beside a normal client that must keep being served.
scripts/attack-suite.py debug
# Schemathesis on the gateway's /openapi.json: every operation, every check, bounded cases.
scripts/schemathesis-test.py debug
# Debian's nginx in front of the resource-service, asking the gateway's /auth/verify.
scripts/nginx-forward-auth-test.py debug
# Two auth-service instances on PostgreSQL and three gateways under steady load: every
# kind of revocation reaches every gateway, and no other request is refused.
bench/revocation.py --profile debug --rounds 10
# The Kubernetes manifests (deploy/kubernetes), rendered and checked against the
# Kubernetes schemas offline; no cluster here.
scripts/kubernetes-validate.py

if [ "${SKIP_COMPOSE_TEST:-0}" = 1 ]; then
    echo "compose test skipped (SKIP_COMPOSE_TEST=1)"
else
    scripts/readme-run-test.sh
    scripts/docker-build-test.sh
    scripts/compose-test.sh
    scripts/swarm-test.sh
fi
