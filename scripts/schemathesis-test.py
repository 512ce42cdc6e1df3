#!/usr/bin/env python3
"""Schemathesis against the public API: the three real binaries on free loopback ports (as
the attack suite starts them, scripts/attacks/stack.py), a user registered and logged in
for a token, then `schemathesis run` on the gateway's /openapi.json, every operation, every
check (one exclusion, for one operation, in scripts/schemathesis.toml), MAX_EXAMPLES
generated cases per operation and phase, the token as a header. Fails on any failure
schemathesis reports, on a check it never applied, or when the run takes longer than
MAX_SECONDS. About 40 s on a debug build.

Usage: scripts/schemathesis-test.py [debug|release]   (default: debug)
The binaries come from ${CARGO_TARGET_DIR:-target}/<profile>; build them first.
Schemathesis is installed from PyPI into ${CARGO_TARGET_DIR:-target}/schemathesis-venv on
the first run. SCHEMATHESIS_SEED=<n> replays (or varies) the generated cases.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "attacks"))

from stack import Stack, request  # noqa: E402

# The major version the command line below is written for.
SCHEMATHESIS = "schemathesis>=4.3,<5"
# Generated cases per operation and phase: enough to find what a fuzzer finds in a schema
# this size, few enough that the run takes well under a minute.
MAX_EXAMPLES = 100
# The whole run, start-up excluded; past it the run is stopped and fails.
MAX_SECONDS = 240
# Each request's deadline (the gateway's own request timeout is 30 s).
REQUEST_TIMEOUT_SECONDS = 10
# The generated cases are the same on every run unless told otherwise, so that a failure
# in CI reproduces on a developer's machine.
DEFAULT_SEED = "20260"

# Forward authentication on, so that its endpoint is in the document and tested too (the
# config file names its path).
STACK_SETTINGS = {"GATEWAY__FORWARD_AUTH__PATH": "/auth/verify"}
# The one check left out, for one operation, and why.
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")

# Every check of schemathesis 4 (`schemathesis run --help`, `--checks`). Each must have been
# applied. `object_level_authorization` needs two identities and objects one of them
# creates; this API has none (no operation creates an object another could read by its
# id), so it is applied and finds nothing to compare.
CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
}

USER = "schemathesis-user"
PASSWORD = "a-schemathesis-password"


def venv_schemathesis(target):
    venv = os.path.join(target, "schemathesis-venv")
    binary = os.path.join(venv, "bin", "schemathesis")
    if not os.access(binary, os.X_OK):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        pip = os.path.join(venv, "bin", "pip")
        subprocess.run([pip, "install", "-q", SCHEMATHESIS], check=True)
    return binary


def checks_applied(report):
    """The names of the checks the run applied to at least one response."""
    applied = set()
    with open(report, encoding="utf-8") as events:
        for line in events:
            finished = json.loads(line).get("ScenarioFinished") or {}
            checks = (finished.get("recorder") or {}).get("checks") or {}
            for results in checks.values():
                applied.update(result["name"] for result in results)
    return applied


def token_for(stack):
    status, _, body = stack.register(USER, PASSWORD)
    if status not in (201, 409):
        raise RuntimeError(f"registering {USER}: {status} {body}")
    status, _, body = stack.login(USER, PASSWORD)
    if status != 200:
        raise RuntimeError(f"logging in {USER}: {status} {body}")
    return json.loads(body)["token"]


def main():
    args = sys.argv[1:]
    profile = args[0] if args else "debug"
    if profile not in ("debug", "release"):
        sys.exit(__doc__)
    # Absolute: schemathesis runs in the stack's folder, where a relative path means nothing.
    target = os.path.abspath(os.environ.get("CARGO_TARGET_DIR", "target"))
    bin_dir = os.path.join(target, profile)
    schemathesis = venv_schemathesis(target)
    seed = os.environ.get("SCHEMATHESIS_SEED", DEFAULT_SEED)

    stack = Stack(bin_dir, STACK_SETTINGS, name="schemathesis stack").start()
    started = time.monotonic()
    try:
        token = token_for(stack)
        gateway = f"http://127.0.0.1:{stack.port}"
        status, _, _ = request(stack.port, "GET", "/openapi.json")
        if status != 200:
            raise RuntimeError(f"GET /openapi.json answered {status}")
        report = os.path.join(stack.workdir, "schemathesis.ndjson")
        # Every check runs: schemathesis 4 enables them all unless told otherwise. `--checks
        # all` is not passed because on the command line it would also override the one
        # exclusion the config file makes for one operation; `checks_applied` below makes
        # sure that none went missing.
        command = [
            schemathesis, "--config-file", CONFIG, "run", f"{gateway}/openapi.json",
            # The document's server is the configured public URL; the stack is here.
            "--url", gateway,
            "--max-examples", str(MAX_EXAMPLES),
            "--header", f"Authorization: Bearer {token}",
            "--request-timeout", str(REQUEST_TIMEOUT_SECONDS),
            "--seed", seed,
            # One worker: concurrent registrations would fill the password hashing queue,
            # whose 503 is the service protecting itself, not a fault to find.
            "--workers", "1",
            "--generation-database", "none",
            "--no-color",
            # The events, to see below that every check was applied.
            "--report", "ndjson", "--report-ndjson-path", report,
        ]
        print(f"schemathesis: {MAX_EXAMPLES} examples per operation, seed {seed}", flush=True)
        try:
            # Run in the stack's folder: schemathesis leaves nothing in the work tree.
            result = subprocess.run(command, cwd=stack.workdir, timeout=MAX_SECONDS)
            code = result.returncode
            missing = CHECKS - checks_applied(report)
            if missing:
                print(f"schemathesis: checks never applied: {', '.join(sorted(missing))}")
                code = code or 1
        except subprocess.TimeoutExpired:
            print(f"schemathesis: stopped after {MAX_SECONDS} s", flush=True)
            code = 1
    finally:
        stack.stop()
    took = time.monotonic() - started
    verdict = "passed" if code == 0 else f"FAILED (exit {code}; service logs in {stack.workdir})"
    print(f"schemathesis step: {verdict}, {took:.0f} s")
    sys.exit(0 if code == 0 else 1)


if __name__ == "__main__":
    main()
