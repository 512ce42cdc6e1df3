#!/usr/bin/env python3
"""The attack suite: slow, stalled, smuggling, flooding, guessing, replaying and malformed
clients against the real binaries on loopback, each while a normal client is served
beside it (scripts/attacks/cases.py says what each case sends and what it must get).

Usage: scripts/attack-suite.py [debug|release] [case ...]   (default: debug, every case)
The binaries come from ${CARGO_TARGET_DIR:-target}/<profile>; build them first.
Bounded: every case has a time limit, and the whole run takes about two minutes.
"""

import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "attacks"))

import cases  # noqa: E402
from stack import Stack  # noqa: E402

# The deadlines are short so that waiting for them takes seconds; the cap is the default
# one except in the stack made for the cap's own case.
DEADLINES = {
    "APPLICATION__HEADER_TIMEOUT_MS": str(cases.HEADER_TIMEOUT * 1000),
    "APPLICATION__BODY_IDLE_TIMEOUT_MS": str(cases.BODY_IDLE_TIMEOUT * 1000),
    "APPLICATION__BODY_TIMEOUT_MS": str(cases.BODY_IDLE_TIMEOUT * 2000),
    "APPLICATION__KEEP_ALIVE_TIMEOUT_MS": str(cases.KEEPALIVE_TIMEOUT * 1000),
}
LOW_CAP = 20


def settings(prefix, values):
    return {f"{prefix}__{k}": v for k, v in values.items()}


def main():
    args = sys.argv[1:]
    profile = "debug"
    if args and args[0] in ("debug", "release"):
        profile = args.pop(0)
    wanted = set(args)
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    bin_dir = os.path.abspath(os.path.join(target, profile))

    # 1,000 idle connections need that many descriptors here as well.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))

    env = {}
    for prefix in ("GATEWAY", "AUTH", "RESOURCE"):
        env.update(settings(prefix, DEADLINES))
    capped = dict(env, GATEWAY__APPLICATION__MAX_CONNECTIONS=str(LOW_CAP))

    plan = [
        ("slow headers", env, cases.slow_headers),
        ("stalled second request", env, cases.stalled_second_request),
        ("slow body", env, cases.slow_body),
        ("idle keep-alive connection", env, cases.idle_keepalive),
        ("upgrade smuggling", env, cases.upgrade_smuggling),
        ("CONNECT", env, cases.connect_method),
        ("unmet Expect", env, cases.unmet_expectation),
        ("Content-Length with chunked", env, cases.content_length_with_chunked),
        ("conflicting Content-Lengths", env, cases.conflicting_lengths),
        ("1,000 idle connections under the default cap", env, cases.many_idle_connections),
        (f"a cap of {LOW_CAP} connections", capped, lambda s: cases.connection_cap(s, LOW_CAP)),
        ("100 concurrent guesses for one username", env, cases.concurrent_guesses),
        ("refresh-token replay in the grace window", env, cases.refresh_grace_replay),
        ("Host injection into discovery", env, cases.host_injection),
        ("oversized and malformed requests", env, cases.malformed_everything),
    ]
    plan = [p for p in plan if not wanted or any(w in p[0] for w in wanted)]

    stacks = {}
    failures = 0
    started = time.monotonic()
    try:
        for name, stack_env, case in plan:
            key = id(stack_env)
            if key not in stacks:
                stacks[key] = Stack(bin_dir, stack_env, name=f"stack {len(stacks) + 1}").start()
            t0 = time.monotonic()
            try:
                problem = case(stacks[key])
            except Exception as e:  # a case that breaks is a failed case
                problem = f"{type(e).__name__}: {e}"
            took = time.monotonic() - t0
            if problem is None:
                print(f"ok   {name} ({took:.1f} s)")
            else:
                failures += 1
                print(f"FAIL {name} ({took:.1f} s): {problem}")
        secrets = ("the-victims-real-password", "the-replay-victims-password", "a-normal-users-password")
        for s in stacks.values():
            if any(secret in s.log_text() for secret in secrets):
                failures += 1
                print(f"FAIL a password reached a log line ({s.name})")
    finally:
        for s in stacks.values():
            s.stop()
    print(f"attack suite: {len(plan)} case(s), {failures} failed, {time.monotonic() - started:.0f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
