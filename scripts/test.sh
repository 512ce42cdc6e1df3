#!/usr/bin/env bash
# Every test of the project: unit, per-service integration and end-to-end tests, then a
# smoke run of the real binaries replaying the seed's curl flow on ports 8080-8082.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked
# `cargo test` has just built the three binaries in target/debug.
scripts/smoke-local.sh debug
