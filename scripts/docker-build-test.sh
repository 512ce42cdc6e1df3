#!/usr/bin/env bash
# Proves the image build cannot drift from the workspace's manifests, and that a change of
# ours does not recompile the dependencies:
#   1. builds the Dockerfile's `builder` stage in a clean copy of the repository (from the
#      cache when scripts/readme-run-test.sh has just built the same sources);
#   2. adds to that copy what broke the hand-kept stub list before: a bench declared in a
#      manifest, an example, an integration-test target and a new workspace crate; edits
#      one of the gateway's sources;
#   3. builds `builder` again: it must succeed, its dependency layer must come from the
#      cache ("Using cache"), and the step after it may compile our packages only.
# Uses the classic builder, whose output names each step and its cache use.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
readonly TAG=jwt-platform/build-test:latest
export DOCKER_BUILDKIT=0

scripts/docker-base-images.sh >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"; docker rmi "$TAG" >/dev/null 2>&1 || true' EXIT
copy=$work/repo
mkdir "$copy"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$copy"

failures=0
check() { # name, then a command that must succeed
    local name=$1; shift
    if "$@"; then echo "ok   $name"; else echo "FAIL $name"; failures=$((failures + 1)); fi
}
build() { # log file
    (cd "$copy" && docker build --target builder -t "$TAG" .) >"$1" 2>&1
}

echo "== 1. the builder stage of the sources as they are"
build "$work/before.log" || { tail -n 40 "$work/before.log" >&2; exit 1; }

echo "== 2. a bench, an example, an integration test, a new crate; one source edited"
cd "$copy"
mkdir -p gateway/benches gateway/examples auth-service/tests drift-probe/src
echo 'fn main() {}' >gateway/benches/drift_probe.rs
printf '\n[[bench]]\nname = "drift_probe"\nharness = false\n' >>gateway/Cargo.toml
echo 'fn main() {}' >gateway/examples/drift_probe.rs
echo '#[test] fn runs() {}' >auth-service/tests/drift_probe.rs
printf '\n[[test]]\nname = "drift_probe"\npath = "tests/drift_probe.rs"\n' >>auth-service/Cargo.toml
cat >drift-probe/Cargo.toml <<'EOF'
[package]
name = "drift-probe"
version = "0.1.0"
edition.workspace = true
publish.workspace = true

[dependencies]
serde = { workspace = true }
EOF
echo 'pub use serde;' >drift-probe/src/lib.rs
sed -i 's/^members = \[/members = [\n    "drift-probe",/' Cargo.toml
# The new member's entry in the lock file, as `cargo build` would write it.
cargo update --workspace --offline >/dev/null 2>&1 || cargo update --workspace >/dev/null 2>&1
# Unique bytes every run: a Docker cache kept from an earlier run of this test must not hold
# a layer for the edited tree, or the planner check below would see "Using cache".
echo "// edited $(date +%s%N) $$" >>gateway/src/main.rs
cd "$repo"

echo "== 3. the builder stage again"
if build "$work/after.log"; then
    check "the builder stage builds" true
else
    check "the builder stage builds" false
    tail -n 40 "$work/after.log" >&2
fi
# The step that compiles the dependencies is the one `cargo build` without --locked.
step_result() { # log, pattern of the step's line: what the line after it says
    awk -v pattern="$2" 'found { print; exit } $0 ~ /^Step / && $0 ~ pattern { found = 1 }' "$1"
}
dependency_step='RUN cargo build --release [$][(]for'
check "the dependency layer comes from the cache" \
    test "$(step_result "$work/after.log" "$dependency_step")" = " ---> Using cache"
check "the planner saw the change (its COPY . . ran)" \
    test "$(step_result "$work/after.log" 'COPY [.] [.]')" != " ---> Using cache"
compiled=$(sed 's/\x1b\[[0-9;]*m//g' "$work/after.log" | grep -E '^ *Compiling ' || true)
check "our packages were compiled again" grep -q 'Compiling gateway v' <<<"$compiled"
outside=$(grep -v '(/src/' <<<"$compiled" || true)
check "no dependency was compiled again${outside:+: $(echo $outside)}" test -z "$outside"

if [ "$failures" -gt 0 ]; then
    echo "docker build test: $failures check(s) failed" >&2
    exit 1
fi
echo "docker build test: all checks passed"
